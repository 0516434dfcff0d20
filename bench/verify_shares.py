"""Verification design (issue 24): what the shares and the order within strata buy and cost.

    python bench/verify_shares.py

The setting of ``bench/verify.py`` (CISI, CACM, NPL; keep 25% and keep 1; split seed 0; MiniLM,
depth 100; 200 judgments; 100 seeded draws per variant; the judge simulated from the dense qrels).
Each variant of :func:`trueneg.pu.verify.draw_design` gives the share of the draws on the top-10
candidates, on the emitted negatives outside the top-10 (the rest of the draws goes to the rest of the
frame), and the order the systematic draw follows within a stratum: by query then probability (shipped),
by probability only, or random (simple random sampling without replacement). Reported: for the top-10
rate, coverage of the 90% interval, mean absolute error (points) and width ÷ a uniform sample of the
top-10 of the same budget (without replacement, t-interval with the finite-population correction); for
the emitted negatives' rate, coverage and mean width.
"""

from __future__ import annotations

import os
import statistics

import numpy as np
from _common import save
from scipy import stats
from verify import setting

from trueneg.candidates.encoders import SentenceTransformerEncoder
from trueneg.pu.verify import draw_design, estimate_total

os.environ.setdefault("HF_HUB_OFFLINE", "1")
VARIANTS = {
    "0.7/0.2/0.1 by query, p (shipped)": (0.7, 0.2, "query"),
    "0.7/0.2/0.1 by p": (0.7, 0.2, "p"),
    "0.7/0.2/0.1 random order": (0.7, 0.2, "random"),
    "0.85/0.1/0.05 by query, p": (0.85, 0.1, "query"),
    "0.9/0.05/0.05 by query, p": (0.9, 0.05, "query"),
}
N, DRAWS = 200, 100


def main() -> None:
    enc = SentenceTransformerEncoder(show_progress=False)
    records, lines = [], ["| collection | keep | variant | top-10 coverage | error (points) | width ÷ uniform | "
                          "emitted coverage | emitted width |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("cisi", "cacm", "npl"):
        for keep in (0.25, 1):
            _, _, _, frame, truth, top, em = setting(name, keep, enc)
            rates = {"top": truth[top].mean(), "emitted": truth[em].mean()}
            uniform = []
            for draw in range(DRAWS):
                picked = np.random.default_rng(10_000 + draw).choice(np.flatnonzero(top), size=N, replace=False)
                fpc = np.sqrt(1 - N / top.sum())
                uniform.append(2 * stats.t.ppf(0.95, N - 1) * truth[picked].std(ddof=1) / np.sqrt(N) * fpc)
            for variant, (top_share, emitted_share, order) in VARIANTS.items():
                p = frame.probability if order != "random" else np.zeros(len(frame))  # the order only: the same p below
                groups = frame.rows if order == "query" else None
                got: dict[str, list] = {"top": [], "emitted": []}
                for draw in range(DRAWS):
                    focus = [(top, top_share), (em & ~top, emitted_share)]
                    d = draw_design(p, N, seed=draw, focus=focus, groups=groups)
                    for key, subset in (("top", top), ("emitted", em)):
                        e = estimate_total(frame.probability, d, truth[d.index], subset).rate(0.9)
                        got[key].append((e["estimated_fn_rate"], e["ci_low"], e["ci_high"]))
                cover = {k: statistics.fmean(lo <= rates[k] <= hi for _, lo, hi in v) for k, v in got.items()}
                width = {k: statistics.fmean(hi - lo for _, lo, hi in v) for k, v in got.items()}
                r = {"collection": name, "keep": keep, "variant": variant, "coverage": cover, "width": width,
                     "error": statistics.fmean(abs(x - rates["top"]) for x, _, _ in got["top"]),
                     "width_ratio": width["top"] / statistics.fmean(uniform)}  # fmt: skip
                records.append(r)
                lines.append(f"| {name} | {keep} | {variant} | {cover['top']:.2f} | {100 * r['error']:.2f} | "
                             f"{r['width_ratio']:.2f} | {cover['emitted']:.2f} | {width['emitted']:.3f} |")  # fmt: skip
                print(lines[-1], flush=True)
    table = f"{N} judgments, {DRAWS} seeded draws per variant, 90% intervals.\n\n" + "\n".join(lines)
    save("verify_shares", {"records": records}, table)


if __name__ == "__main__":
    main()
