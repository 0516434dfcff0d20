"""The shape of trueneg's public API at several commits, measured from the code (issue 15's numbers).

For each commit: parameters and lines of the main entry points, their cyclomatic complexity (1 +
branches: if/for/while/except/assert, boolean operators, conditional expressions,
comprehension filters), CLI options per command, functions that declare encoder settings
(``backend`` / ``query_prompt`` / ``document_prompt`` / ``batch_size``) as parameters, ``raise``
statements with a "must be one of" message, ``random_state``, parameters annotated ``Any``
(outside the CLI), CLI options whose default is a literal written in the CLI (not ``None``/``False``)
and ``Literal`` occurrences in ``trueneg/``.

    python bench/api_shape.py d4664da 6ffbe04 ea21ed6 HEAD

Writes ``bench/results/api_shape.json`` and ``.md``. Static reading only: nothing is imported.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("mine_negatives", "mine_pool", "train", "mine_to_file", "audit", "audit_at_scale", "retrieve_candidates",
             "evaluate")  # fmt: skip
ENCODER_SETTINGS = {"backend", "query_prompt", "document_prompt", "batch_size"}
COMMANDS = ("mine", "audit", "train_model", "evaluate_model")


def _files(commit: str) -> dict[str, str]:
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, "trueneg/"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()  # fmt: skip
    out = {}
    for name in names:
        if name.endswith(".py"):
            out[name] = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout  # fmt: skip
    return out


def _complexity(node: ast.AST) -> int:
    count = 1
    for child in ast.walk(node):
        if isinstance(child, (ast.If, ast.For, ast.While, ast.ExceptHandler, ast.IfExp, ast.Assert)):
            count += 1
        elif isinstance(child, ast.BoolOp):
            count += len(child.values) - 1
        elif isinstance(child, ast.comprehension):
            count += len(child.ifs)
    return count


def _params(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    return [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]


def measure(commit: str) -> dict:
    files = _files(commit)
    functions: dict[str, dict] = {}
    encoder_setting_functions = []
    cli_options: dict[str, int] = {}
    typed_any = one_of = cli_literals = 0
    for name, text in files.items():
        tree = ast.parse(text)
        one_of += sum(isinstance(n, ast.Raise) and "must be one of" in ast.unparse(n) for n in ast.walk(tree))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            params = _params(node)
            if "cli" not in name:
                a = node.args
                typed_any += sum(
                    isinstance(p.annotation, ast.Name) and p.annotation.id == "Any"
                    for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)
                )
            if node.name in FUNCTIONS and not node.name.startswith("_") and "cli" not in name:
                if node.name == "train" and "training" not in name:
                    continue
                functions[node.name] = {
                    "parameters": len(params) + (1 if node.args.kwarg else 0),
                    "lines": node.end_lineno - node.lineno + 1,
                    "complexity": _complexity(node),
                }
            if ENCODER_SETTINGS & set(params) and "cli" not in name and not name.endswith("encoders.py"):
                if {"backend", "query_prompt"} & set(params):
                    encoder_setting_functions.append(f"{name}:{node.name}")
            if name.endswith("cli.py"):
                cli_literals += sum(
                    isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "Option" and bool(d.args)
                    and isinstance(d.args[0], ast.Constant) and d.args[0].value not in (None, False, Ellipsis)
                    for d in node.args.defaults
                )  # fmt: skip
            if name.endswith("cli.py") and any(
                isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "Option" for d in node.args.defaults
            ):
                cli_options[node.name] = sum(
                    isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "Option" for d in node.args.defaults
                )
    text = "\n".join(files.values())
    return {
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", commit], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip(),  # fmt: skip
        "functions": functions,
        "cli_options": {k: cli_options[k] for k in COMMANDS if k in cli_options},
        "functions_declaring_encoder_settings": sorted(encoder_setting_functions),
        "must_be_one_of_messages": one_of,
        "random_state": len(re.findall(r"\brandom_state\b", text)),
        "parameters_typed_Any": typed_any,
        "cli_literal_defaults": cli_literals,
        "Literal": len(re.findall(r"\bLiteral\[", text)),
        "lines_of_code": sum(len(t.splitlines()) for t in files.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="+")
    args = parser.parse_args()
    runs = [measure(c) for c in args.commits]
    result = {
        "command": "python bench/api_shape.py " + " ".join(args.commits),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": runs,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "api_shape.json").write_text(json.dumps(result, indent=2) + "\n")
    head = "| | " + " | ".join(r["commit"] for r in runs) + " |"
    lines = [f"# API shape ({result['date']})", "", f"`{result['command']}`", "", head,
             "|---|" + "---|" * len(runs)]  # fmt: skip
    for fn in FUNCTIONS:
        for key in ("parameters", "lines", "complexity"):
            cells = [str(r["functions"].get(fn, {}).get(key, "–")) for r in runs]
            lines.append(f"| `{fn}` {key} | " + " | ".join(cells) + " |")
    for cmd in COMMANDS:
        lines.append(f"| CLI `{cmd}` options | " + " | ".join(str(r["cli_options"].get(cmd, "–")) for r in runs) + " |")
    keys = ("must_be_one_of_messages", "random_state", "parameters_typed_Any", "cli_literal_defaults", "Literal",
            "lines_of_code")  # fmt: skip
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(str(r[key]) for r in runs) + " |")
    lines.append("| functions declaring encoder settings | "
                 + " | ".join(str(len(r["functions_declaring_encoder_settings"])) for r in runs) + " |")  # fmt: skip
    (out / "api_shape.md").write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
