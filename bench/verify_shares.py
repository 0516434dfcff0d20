"""Verification design shares (issue 24): what moving draws from the emitted negatives to the top-k buys and costs.

    python bench/verify_shares.py

The setting of ``bench/verify.py`` (CISI, CACM, NPL; keep 25% and keep 1; split seed 0; MiniLM,
depth 100; 200 judgments; 100 seeded draws per variant; the judge simulated from the dense qrels).
Each variant of :func:`trueneg.pu.verify.draw_design` gives the share of the draws on the top-10
candidates, on the emitted negatives outside the top-10, and the uniform share within each subset
(the rest of the draws is uniform over the frame). Reported: for the top-10 rate, coverage of the
90% interval, mean absolute error (points) and width ÷ a uniform sample of the top-10 of the same
budget; for the emitted negatives' rate, coverage and mean width. The shipped design is D.
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
    "A 0.7/0.2/0.1 u.5 (the earlier default)": (0.7, 0.2, 0.5),
    "B 0.85/0.1/0.05 u.5": (0.85, 0.1, 0.5),
    "C 0.9/0.05/0.05 u.5": (0.9, 0.05, 0.5),
    "D 0.7/0.2/0.1 u1 (shipped: uniform within strata)": (0.7, 0.2, 1.0),
    "E 0.85/0.1/0.05 u.25": (0.85, 0.1, 0.25),
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
                uniform.append(2 * stats.t.ppf(0.95, N - 1) * truth[picked].std(ddof=1) / np.sqrt(N))
            for variant, (top_share, emitted_share, u) in VARIANTS.items():
                got: dict[str, list] = {"top": [], "emitted": []}
                for draw in range(DRAWS):
                    focus = [(top, top_share), (em & ~top, emitted_share)]
                    d = draw_design(frame.probability, N, seed=draw, focus=focus, uniform_share=u)
                    for key, subset in (("top", top), ("emitted", em)):
                        e = estimate_total(frame.probability, d.index, d.q, truth[d.index], subset, d.count).rate(0.9)
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
