"""``audit``: how many false negatives a retrieval dataset holds, and which ones, as JSON and HTML.

The HTML report is one self-contained file (plots inlined as PNG data URIs, no scripts, no
network): score distributions of positives, unlabeled candidates and emitted negatives; the
estimated false-negative probability by rank (the pooling-bias curve); the dataset false-negative
rate with its interval; and the most likely missing positives with query and passage text, ready
for a person or a judge model to confirm.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trueneg.audit.config import AuditConfig
from trueneg.audit.verification import check_sample_target, verify_audit
from trueneg.candidates.encoders import CacheDir, ModelLike, pop_encoder_settings
from trueneg.candidates.pool import CandidatePool, member_of
from trueneg.data.dataset import RetrievalData
from trueneg.io import atomic_path, check_writable, write_json, write_rows
from trueneg.mining.engine import Fitted, Inputs, Mined, Plan, Source, drive, fit, open_source, plan
from trueneg.mining.result import MiningResult
from trueneg.pu import FalseNegativeEstimate
from trueneg.pu.detector import DetectorLike, label_frequency_dict, rate_dict
from trueneg.pu.verify import check_enough, read_judgments


@dataclass
class AuditResult:
    """The audit as a JSON-ready dict plus the arrays the plots are drawn from.

    The result vocabulary of every data shape: :meth:`to_dict` (the summary, ``audit.json``),
    :meth:`to_records` (the suspects, most likely first) and :meth:`write`.
    """

    summary: dict[str, Any]
    positive_scores: np.ndarray
    unlabeled_scores: np.ndarray
    negative_scores: np.ndarray
    verification: list[dict[str, Any]] | None = None  # the rows of verify.jsonl, when a sample was drawn

    def to_dict(self) -> dict[str, Any]:
        """What ``audit.json`` holds."""
        return self.summary

    def to_records(self) -> list[dict[str, Any]]:
        """The likely missing positives, one dict per (query, document), most likely first."""
        return list(self.summary["suspects"])

    def write(self, path: str | Path) -> tuple[Path, ...]:
        """Write the audit, atomically: ``.json`` = :meth:`to_dict`, ``.html`` = the report,
        ``.jsonl`` / ``.parquet`` = :meth:`to_records`; any other path is a folder that gets
        ``report.html`` and ``audit.json``. Returns the paths written."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".json", ".jsonl", ".parquet"):
            check_writable(path, "audit")
            if suffix == ".json":
                write_json(path, self.to_dict())
            else:
                write_rows(path, self.to_records())
            return (path,)
        if suffix == ".html":
            check_writable(path, "audit report")
            with atomic_path(path) as tmp:
                tmp.write_text(render_html(self), encoding="utf-8")
            return (path,)
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path}: not a folder (write to a folder, or a .json/.html/.jsonl/.parquet file)")
        check_writable(path / "audit.json", "audit")
        if self.verification is not None:
            check_sample_target(path / "verify.jsonl")
        path.mkdir(parents=True, exist_ok=True)
        html_path = path / "report.html"
        self.write(html_path)
        written = (html_path, self.write(path / "audit.json")[0])
        if self.verification is not None:
            write_rows(path / "verify.jsonl", self.verification)
            written += (path / "verify.jsonl",)
        return written


def audit(
    data: RetrievalData,
    model: ModelLike = None,
    config: AuditConfig | None = None,
    *,
    detector: DetectorLike = "multi",
    cache_dir: CacheDir = None,
    judgments: str | os.PathLike | None = None,
    teacher: Any = None,
    teacher_type: Literal["auto", "bi-encoder", "cross-encoder"] = "auto",
    show_progress: bool = True,
    **options: Any,
) -> AuditResult:
    """Estimate the false negatives among the unlabeled candidates of ``data``.

    Args:
        model: the :class:`~trueneg.candidates.Encoder` of the dense side, or a model name (default the
            offline all-MiniLM-L6-v2); ``cache_dir`` is its embedding cache.
        config: the :class:`~trueneg.audit.config.AuditConfig` (depth, top_k, estimator, suspects, the
            mining configuration to assess, retriever, seed); its fields as keywords override it.
        detector: ``"multi"`` (default; every signal of :mod:`trueneg.pu.evidence`) or ``"score"``
            (the score-only model), or a configured :class:`~trueneg.pu.FalseNegativeDetector`.
        judgments: a filled ``verify.jsonl`` of an earlier ``verify=N`` run on the same data, model and
            seed: the summary then holds ``verified``, design-based estimates with intervals
            (:mod:`trueneg.audit.verify`), beside the model-based ones.
        teacher: a second model (bi-encoder or cross-encoder, an object or a name; ``teacher_type``
            says which when it cannot be told): its scores of the pool's pairs become the detector's
            ``teacher_*`` signals, evidence that exists with one labeled positive per query.
        options: :class:`AuditConfig` fields (``verify=N`` draws a verification sample, written as
            ``verify.jsonl`` by :meth:`AuditResult.write`), and the deprecated encoder settings.

    Example:
        >>> result = audit(load_beir("../shared/data/scifact"), top_k=10)  # doctest: +SKIP
        >>> result.summary["estimated_fn_rate"], result.to_records()[0]  # doctest: +SKIP
    """
    settings = pop_encoder_settings(options)
    cfg = AuditConfig.build(config, **options)
    if judgments is not None:  # the file's own faults before any work
        check_enough(read_judgments(judgments))
    inputs = Inputs(teacher=teacher, fn_detector=detector, cache_dir=cache_dir, show_progress=show_progress)
    mining = cfg.mining().replace(teacher_type=teacher_type)
    run = plan(data, model, mining, inputs=inputs, purpose="audit", depth=cfg.depth, **settings)
    with open_source(run) as source:
        sink = audit_run(run, source, cfg)
    header = {
        "source": data.source,
        "skipped": data.skipped or None,
        "retriever": cfg.retriever,
        "model": source.describe["model"],  # the source describes its encoder once, for mining and the audit alike
        "teacher": None if teacher is None else str(teacher),
    }
    result = sink.result(header, cfg)
    if cfg.verify or judgments is not None:
        last = sink.last
        emitted = member_of(last.pool.candidates, last.result.negatives) & (last.pool.candidates >= 0)
        result.verification = verify_audit(result.summary, data, last.pool, last.estimate, emitted, cfg, judgments)
    return result


def audit_run(run: Plan, source: Source, config: AuditConfig) -> AuditSink:
    """Fit the detector on ``source`` and drive every pool into the audit's tally (both audits' path)."""
    sink = AuditSink(run.data, AuditTally(config.depth, config.top_k, config.n_suspects, seed=config.seed))
    sink.fitted = fit(run, source)
    drive(run, source, sink.fitted, sink, desc="Auditing chunks")
    return sink


class AuditSink:
    """The engine's sink of an audit: every pool is added to the tally as it is mined."""

    wants: Literal["rows", "pools"] = "pools"

    def __init__(self, data: RetrievalData, tally: AuditTally) -> None:
        self.data, self.tally = data, tally
        self.last: Mined | None = None
        self.fitted: Fitted | None = None
        self.fn_summary: dict[str, Any] | None = None

    def add(self, part: Mined) -> None:
        self.tally.add(self.data, part.pool, part.estimate, part.result)
        self.fn_summary = self.fn_summary or part.result.summary["false_negatives"]
        self.last = part

    def result(self, header: dict[str, Any], config: AuditConfig) -> AuditResult:
        """The audit of everything added, with ``header`` first in its summary."""
        return self.tally.result(header, self.last.estimate, self.fn_summary, config)


class AuditTally:
    """The audit's numbers summed over one pool or over the chunks of a streamed run.

    Sums (expected missing positives, pairs per rank, ...) add across chunks exactly; the suspects
    keep the ``n_suspects`` most likely over everything added; the score arrays behind the plots keep
    at most ``plot_values`` values each (a seeded uniform subsample) so a streamed audit of 100k
    queries draws from bounded memory.
    """

    def __init__(self, depth: int, top_k: int, n_suspects: int, plot_values: int = 200_000, seed: int = 0) -> None:
        self.depth, self.top_k, self.n_suspects, self.plot_values = depth, top_k, n_suspects, plot_values
        self.rng = np.random.default_rng(seed)
        self.queries = self.labeled = self.emitted = self.without_negatives = self.one_positive = 0
        self.top = np.zeros(4)  # probability sums (estimate, low, high) and pair count of the top-k
        self.pool_sum = 0.0
        self.fn_sums = np.zeros(3)  # emitted negatives' probability sums (estimate, low, high)
        self.rank_sum, self.rank_count = np.zeros(depth), np.zeros(depth, dtype=np.int64)
        self.suspects: list[dict[str, Any]] = []
        self.scores: dict[str, list[np.ndarray]] = {"positive": [], "unlabeled": [], "negative": []}

    def add(self, data: RetrievalData, pool: CandidatePool, est: FalseNegativeEstimate, mined: MiningResult) -> None:
        """Count one pool with its estimate and the mining result on it."""
        valid = pool.candidates >= 0
        judged = member_of(pool.candidates, pool.judged_negatives) & valid
        unlabeled = valid & ~est.labeled & ~judged
        rank = np.cumsum(valid & ~est.labeled, axis=1) - 1
        top = unlabeled & (rank < self.top_k)
        self.queries += len(pool.query_ids)
        self.labeled += len(pool.positive_doc)
        self.one_positive += int((np.bincount(pool.positive_query, minlength=len(pool.query_ids)) == 1).sum())
        arrays = (est.probability, est.probability_low, est.probability_high)
        self.top += [*(float(np.nansum(p[top])) for p in arrays), int(top.sum())]
        self.pool_sum += float(np.nansum(est.probability[unlabeled]))
        in_depth = unlabeled & (rank < self.depth)
        np.add.at(self.rank_sum, rank[in_depth], est.probability[in_depth])
        np.add.at(self.rank_count, rank[in_depth], 1)
        fn = mined.summary["false_negatives"]
        n = mined.summary["negatives_emitted"]
        self.emitted += n
        self.without_negatives += mined.summary["queries_without_negatives"]
        self.fn_sums += n * np.array([fn["estimated_fn_rate"], fn["ci_low"], fn["ci_high"]])
        rows, cols = np.nonzero(unlabeled)
        probs = est.probability[rows, cols]
        best = est.order(rows, cols)[: self.n_suspects]
        g = est.labeled_probability
        self.suspects += [
            {
                "query_id": pool.query_ids[rows[i]],
                "doc_id": data.doc_ids[pool.candidates[rows[i], cols[i]]],
                "probability": round(float(probs[i]), 5),
                "labeled_probability": round(float(g[rows[i], cols[i]]), 6),
                "rank": int(rank[rows[i], cols[i]]) + 1,
                "score": round(float(pool.scores[rows[i], cols[i]]), 5),
                "query": pool.query_texts[rows[i]],
                "document": data.doc_texts[pool.candidates[rows[i], cols[i]]],
            }
            for i in best
        ]
        self.suspects = sorted(self.suspects, key=lambda x: (-x["probability"], -x["labeled_probability"]))
        self.suspects = self.suspects[: self.n_suspects]
        for name, values in (
            ("positive", pool.positive_scores),
            ("unlabeled", pool.scores[unlabeled]),
            ("negative", mined.negative_scores[mined.negatives >= 0]),
        ):
            self.scores[name].append(values)
            merged = np.concatenate(self.scores[name])
            if len(merged) > self.plot_values:
                merged = merged[np.sort(self.rng.choice(len(merged), self.plot_values, replace=False))]
            self.scores[name] = [merged]

    def result(
        self, header: dict[str, Any], est: FalseNegativeEstimate, mining_fn: dict[str, Any], config: AuditConfig
    ) -> AuditResult:
        """The :class:`AuditResult` of everything added; ``est`` gives the label frequency."""
        rate, low, high = (self.top[:3] / self.top[3]) if self.top[3] else (0.0, 0.0, 0.0)
        mined_rate = self.fn_sums / max(self.emitted, 1)
        by_rank = [
            {"rank": r + 1, "mean_probability": round(float(self.rank_sum[r] / c), 5), "pairs": int(c)}
            for r, c in enumerate(self.rank_count)
            if c
        ]
        summary = {
            **header,
            "queries": self.queries,
            "estimator": est.estimator,
            "depth": self.depth,
            "top_k": self.top_k,
            **rate_dict((rate, low, high)),
            "expected_fn_per_query_top_k": round(float(self.top[0]) / max(self.queries, 1), 4),
            "expected_missing_positives_in_pool": round(self.pool_sum, 2),
            "labeled_positives": self.labeled,
            **label_frequency_dict(est.label_frequency, est.label_frequency_ci),
            "detector": est.details,
            "assumption": "SCAR given the detector's signals (see trueneg.pu.detector)",
            "mining": {
                "num_negatives": config.num_negatives,
                "perc_pos": None if config.max_fn_rate is not None else config.perc_pos,
                **{k: v for k, v in mining_fn.items() if k != "estimator"},
                **rate_dict(mined_rate),
                "negatives_emitted": self.emitted,
                "queries_without_negatives": self.without_negatives,
            },
            "fn_probability_by_rank": by_rank,
            "suspects": self.suspects,
            "warnings": [ONE_POSITIVE] if self.queries and self.one_positive == self.queries else [],
        }
        scores = {name: np.concatenate(v) if v else np.zeros(0) for name, v in self.scores.items()}
        return AuditResult(summary, scores["positive"], scores["unlabeled"], scores["negative"])


ONE_POSITIVE = (
    "every query has exactly one labeled positive: its chance of being labeled is then 1 / (its number of relevant "
    "documents), different for every query, which one pooled label frequency cannot see, and the leave-one-out "
    "signals are empty; the model-based rate is a rough guide (on CISI, CACM and NPL kept to one positive it was "
    "10-20 points too high, bench/one_positive.py). For an interval that does not rest on it, judge a sample: "
    "--verify 200, then --judgments verify.jsonl"
)


def _figure_uri(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _plots(result: AuditResult) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    values = [result.positive_scores, result.unlabeled_scores, result.negative_scores]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    bins = np.linspace(finite.min(), finite.max(), 40) if finite.size else 10
    for v, label in zip(values, ["labeled positives", "unlabeled candidates", "emitted negatives"]):
        shown = v[np.isfinite(v)]
        if not shown.size:  # nothing emitted (or nothing unlabeled): a legend entry, no density of nothing
            ax.plot([], [], label=f"{label} (none)")
            continue
        ax.hist(shown, bins=bins, density=True, alpha=0.5, label=f"{label} ({len(v)})")
    ax.set_xlabel("retrieval score")
    ax.set_ylabel("density")
    ax.legend()
    scores_uri = _figure_uri(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    curve = result.summary["fn_probability_by_rank"]
    ax.plot([c["rank"] for c in curve], [c["mean_probability"] for c in curve], marker=".")
    ax.set_xlabel("rank among unlabeled candidates")
    ax.set_ylabel("P(missing positive)")
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    curve_uri = _figure_uri(fig)
    plt.close(fig)
    return scores_uri, curve_uri


def _detector_html(detector: dict[str, Any] | None) -> str:
    """What the fitted detector relies on: each signal's drop in ROC AUC when it is shuffled."""
    if not detector:
        return ""
    rows = "\n".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:.4f}</td></tr>"
        for name, value in sorted(detector["signal_importance"].items(), key=lambda kv: -kv[1])
    )
    aucs = ", ".join(f"{html.escape(k)} {v:.3f}" for k, v in detector["oof_auc"].items())
    return (
        f"<h2>The detector</h2><p>{html.escape(detector['detector'])} detector, {html.escape(detector['classifier'])} "
        f"classifier (out-of-fold ROC AUC of the labels: {aucs}). What it relies on: the drop in AUC when one "
        f"signal is shuffled.</p><table><thead><tr><th>signal</th><th>AUC drop</th></tr></thead><tbody>{rows}"
        "</tbody></table>"
    )


def next_step(s: dict[str, Any]) -> dict[str, str]:
    """What to run after this audit: the mining command its estimate suggests, and the verification step."""
    source = s["source"]
    verified = s.get("verified")
    rate = (verified or s)["estimated_fn_rate"]
    cap = 0.05 if rate > 0.05 else round(max(rate / 2, 0.005), 3)
    mine = f"trueneg mine {source} -o negatives.jsonl --max-fn-rate {cap}"
    if verified:
        mine += f" --judgments {verified['file']}"
        check = "the figures are verified; re-audit after mining to check the emitted negatives"
    elif s.get("verification"):
        check = (f"judge the {s['verification']['rows']} rows of verify.jsonl, then: trueneg audit {source} -o DIR "
                 "--judgments verify.jsonl")  # fmt: skip
    else:
        check = f"trueneg audit {source} -o DIR --verify 200, judge the sample, and audit again with --judgments"
    return {"mine": mine, "verify": check}


def _next_step_html(s: dict[str, Any]) -> str:
    step = next_step(s)
    esc = html.escape
    why = (f"{100 * s['estimated_fn_rate']:.1f}% of the top {s['top_k']} unlabeled candidates are estimated to be "
           "missing positives: mine with a cap on the false-negative rate, not the plain top candidates.")  # fmt: skip
    return (f"<h2>Next step</h2><p>{esc(why)}</p><pre><code>{esc(step['mine'])}</code></pre>"
            f"<p>Verification: {esc(step['verify'])}.</p>")  # fmt: skip


def _verified_html(s: dict[str, Any]) -> str:
    """The verified figures (judged sample), or how to get them."""
    v = s.get("verified")
    if not v:
        step = ("a verification sample is in <code>verify.jsonl</code>: judge it (1 relevant, 0 not), then rerun "
                "with <code>--judgments verify.jsonl</code>" if s.get("verification") else
                "rerun with <code>--verify 200</code> and judge the sample for a verified figure")  # fmt: skip
        return f"<p><b>Not verified.</b> The figures below rest on the PU assumption; {step}.</p>"
    m = v["mining"]
    return f"""<div class="cards"><div class="card" id="verified"><div><b>Verified</b> by {v["judged"]} judgments:
false-negative rate in the top {s["top_k"]}</div><div class="v">{100 * v["estimated_fn_rate"]:.1f}%</div>
<div>{100 * v["level"]:.0f}% interval {100 * v["ci_low"]:.1f}% – {100 * v["ci_high"]:.1f}%</div></div>
<div class="card"><div><b>Verified</b>: emitted negatives</div><div class="v">{100 * m["estimated_fn_rate"]:.1f}%</div>
<div>interval {100 * m["ci_low"]:.1f}% – {100 * m["ci_high"]:.1f}%</div></div></div>"""


def render_html(result: AuditResult) -> str:
    """The self-contained HTML report."""
    s = result.summary
    scores_uri, curve_uri = _plots(result)
    esc = html.escape
    mining = s["mining"]
    config = f"{mining['num_negatives']}/query"
    config += f", PercPos {mining['perc_pos']}" if mining["perc_pos"] else ""
    config += f", max FN rate {mining['max_fn_rate']}" if mining["max_fn_rate"] is not None else ""
    retrieval = esc(str(s["model"] or s["retriever"]))
    rows = "\n".join(
        f"<tr><td>{i + 1}</td><td>{x['probability']:.3f}</td><td>{x['rank']}</td><td>{x['score']:.3f}</td>"
        f"<td><b>{esc(x['query_id'])}</b> {esc(x['query'])}</td>"
        f"<td><b>{esc(x['doc_id'])}</b> {esc(x['document'][:400])}{'…' if len(x['document']) > 400 else ''}</td></tr>"
        for i, x in enumerate(s["suspects"])
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>trueneg audit: {esc(str(s["source"]))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
.cards {{ display: flex; gap: 1rem; flex-wrap: wrap; }}
.card {{ border: 1px solid #ddd; border-radius: 8px; padding: 0.8rem 1.2rem; min-width: 200px; }}
.card .v {{ font-size: 1.8rem; font-weight: 600; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.85rem; }}
td, th {{ border-bottom: 1px solid #eee; padding: 0.35rem; vertical-align: top; text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>trueneg audit</h1>
<p>Data <code>{esc(str(s["source"]))}</code>: {s["queries"]} queries with {s["labeled_positives"]} labeled positives;
{s["depth"]} candidates per query from <code>{retrieval}</code>; estimator {esc(s["estimator"])}.</p>
{"".join(f'<p class="warning"><b>Warning:</b> {esc(w)}</p>' for w in s.get("warnings", []))}
{_verified_html(s)}
<div class="cards">
<div class="card"><div>Estimated false-negative rate in the top {s["top_k"]} unlabeled candidates</div>
<div class="v" id="fn-rate">{100 * s["estimated_fn_rate"]:.1f}%</div>
<div>95% interval {100 * s["ci_low"]:.1f}% – {100 * s["ci_high"]:.1f}%</div>
<div><small>model-based: rests on the PU assumption, not verified</small></div></div>
<div class="card"><div>Expected missing positives per query (top {s["top_k"]})</div>
<div class="v">{s["expected_fn_per_query_top_k"]:.2f}</div>
<div>{s["expected_missing_positives_in_pool"]:.0f} in the whole pool</div></div>
<div class="card"><div>Label frequency P(labeled | positive)</div><div class="v">{s["label_frequency"]:.2f}</div>
<div>interval {s["label_frequency_ci"][0]:.2f} – {s["label_frequency_ci"][1]:.2f}</div></div>
<div class="card"><div>Emitted negatives ({config})</div>
<div class="v">{100 * mining["estimated_fn_rate"]:.1f}%</div>
<div>estimated false negatives, interval {100 * mining["ci_low"]:.1f}% – {100 * mining["ci_high"]:.1f}%</div>
<div><small>{mining["negatives_emitted"]} negatives for {s["queries"]} queries; {mining["queries_without_negatives"]}
queries got none</small></div></div>
</div>
{_next_step_html(s)}
<h2>Score distributions</h2><img alt="score distributions" src="{scores_uri}">
<h2>False-negative probability by rank (pooling-bias curve)</h2><img alt="probability by rank" src="{curve_uri}">
<p>Assumption: {esc(s["assumption"])}. Where labels were pooled from top-ranked results, positives deep in the
ranking are under-labeled and this curve understates them.</p>
{_detector_html(s.get("detector"))}
<h2>Most likely missing positives</h2>
<table><thead><tr><th>#</th><th>P</th><th>rank</th><th>score</th><th>query</th><th>passage</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""
