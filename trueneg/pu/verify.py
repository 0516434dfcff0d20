"""Verified false-negative estimates: a small judged sample turns the detector's guess into a valid interval.

No method can tell a dataset's false-negative rate from its labels alone: the detector's figure
rests on the PU assumption. What a user can afford is to judge 50-400 pairs. This module draws
those pairs, reads the judgments back, and combines them with the detector's probability on every
pair:

- **The frame** is every unlabeled candidate of the audit's pool (not a labeled positive, not a
  judged negative, within the audit's depth), with the detector's probability ``p``.
- **The design** is stratified by what the estimates are about, without replacement: 70% of the
  draws go to each query's top-k unlabeled candidates, 20% to the negatives the assessed mining
  configuration emits (outside the top-k), and 10% to the rest of the frame (the pool-wide count),
  at least one (two where the budget allows) to every stratum, so every pair can be drawn. Within a
  stratum the pairs are sorted by query (in a shuffled order) and then by ``p``, cut into ``n_h``
  blocks of ``N_h/n_h`` consecutive pairs, and one pair is drawn from each block. A pair's inclusion
  probability is one over its block's size, whatever the detector says, so the estimate stays valid
  however wrong the detector is; what the sort buys is spread: the draws cover the queries evenly (a
  quarter to two fifths of the variance of a top-10 judgment lies between queries on CISI, CACM and
  NPL) and the detector's range. The file lists the drawn pairs in a random order, so a partly judged
  file is a random part of the sample. (The design drawn with replacement before had mean errors at
  200 judgments of 2.5–3.0 points, against 2.0–2.5 now: ``bench/results/verify_shares.md``.)
- **The estimator** (a difference / prediction-powered estimator, as in active statistical
  inference): the number of missing positives in a subset ``D`` of the frame is
  ``λ Σ_D p + Σ_h (N_h/m_h) Σ_{judged in h} u 1_D (y − λ p)`` (``u``: inverse inclusion probabilities
  scaled to mean 1 in the stratum), unbiased for any fixed ``λ``; ``λ ∈ [0, 1]``
  is set to the variance-minimizing value (``λ = 0`` is the plain stratified estimator, used when the
  detector is no help). Its variance, ``Σ_h N_h² (1 − m_h/N_h) s²_h / m_h``, has the finite-population
  correction, and ``s²_h`` is the successive-difference (collapsed-strata) estimator of a one-per-block
  design (half the mean squared difference of neighbouring judged pairs in the design's order; Wolter, *Introduction to
  Variance Estimation*). The interval is Korn and Graubard's for survey proportions: Clopper–Pearson
  at the estimate's effective sample size, so a stratum whose few draws found no relevant pair still
  gets an honest upper bound. It narrows as the detector improves and is never wrong because the
  detector is.
- **Calibration**: a logistic recalibration ``σ(a + b·logit p + c·log rank)`` of the detector on the
  judgments (the design selects by stratum and, within one, by ``p``'s order only, so given ``p`` a
  judged pair is close to an unbiased draw), shrunk towards the identity, gives probabilities that
  mean on this data what they say; mining filters on each pair's one-sided 90% upper bound under the
  fit's uncertainty. A design-weighted precision per threshold, with its lower bound, gives the
  relabel threshold.

``ppi-python`` implements prediction-powered inference for a uniformly sampled labeled set; the
design here is stratified with unequal shares and one draw per block, so the estimator (a few lines of
sums) is written here rather than forced into that library's iid setting.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0, 1, 5000)
    >>> truth = rng.uniform(0, 1, 5000) < p
    >>> draws = draw_design(p, 200, seed=0)
    >>> est = estimate_total(p, draws, truth[draws.index].astype(float), np.ones(5000, bool))
    >>> bool(abs(est.total - truth.sum()) < 3 * est.se)
    True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from trueneg.candidates.pool import CandidatePool, member_of
from trueneg.data.dataset import DataError, RetrievalData
from trueneg.data.readers import read_table
from trueneg.pu.detector import FalseNegativeEstimate
from trueneg.validation import check_range

TOP_SHARE, EMITTED_SHARE = 0.7, 0.2  # of the draws on the top-k candidates and on the emitted negatives (rest: 0.1)
MIN_JUDGED = 30  # judged pairs below which no interval is given
FRAME_DEPTH = 100  # the audit's default depth (AuditConfig.depth), and the frame's of files that do not record it
DEFAULT_LEVEL = 0.9
CALIBRATION_LEVEL = 0.9  # one-sided: mining with judgments filters on each pair's calibrated upper bound at it


@dataclass
class Frame:
    """The unlabeled pool pairs a verification sample is drawn from, and the detector's probability of each."""

    rows: np.ndarray  # query row in the pool
    cols: np.ndarray  # candidate column in the pool
    query_ids: list[str]
    doc_ids: list[str]
    probability: np.ndarray
    rank: np.ndarray  # rank among the query's unlabeled-or-negative candidates (0 = hardest)
    sample_key: str  # a digest of the frame (data, pool and detector), for files from another run
    depth: int = FRAME_DEPTH  # the audit's depth: mining with the judgments rebuilds the frame at it

    def __len__(self) -> int:
        return len(self.rows)

    def mask(self, pool_mask: np.ndarray) -> np.ndarray:
        """The frame pairs inside a ``(Q, K)`` pool mask."""
        return pool_mask[self.rows, self.cols]

    def index(self) -> dict[tuple[str, str], int]:
        """(query id, doc id) -> frame position."""
        return {key: i for i, key in enumerate(zip(self.query_ids, self.doc_ids))}


def unlabeled_rank(candidates: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """Each candidate's 0-based rank among its query's candidates that are not labeled positives (``(Q, K)``):
    the rank the frame, the rows' ``rank`` (1-based) and the calibration use."""
    return np.cumsum((candidates >= 0) & ~labeled, axis=1) - 1


def frame_of(data: RetrievalData, pool: CandidatePool, est: FalseNegativeEstimate, depth: int) -> Frame:
    """The frame of ``pool``: its unlabeled candidates of rank below ``depth``, with ``est``'s probabilities."""
    valid = pool.candidates >= 0
    judged = member_of(pool.candidates, pool.judged_negatives) & valid
    rank = unlabeled_rank(pool.candidates, est.labeled)
    unlabeled = valid & ~est.labeled & ~judged & (rank < depth)
    rows, cols = np.nonzero(unlabeled)
    p = np.clip(np.nan_to_num(est.probability[rows, cols], nan=0.0), 0.0, 1.0)
    query_ids = [pool.query_ids[r] for r in rows.tolist()]
    doc_ids = [data.doc_ids[d] for d in pool.candidates[rows, cols].tolist()]
    digest = hashlib.blake2b(digest_size=8)
    digest.update("\x1f".join(query_ids).encode())
    digest.update("\x1e".join(doc_ids).encode())
    digest.update(np.round(p, 6).tobytes())
    return Frame(rows, cols, query_ids, doc_ids, p, rank[rows, cols], digest.hexdigest(), depth)


@dataclass
class Draws:
    """A stratified sample, one pair per block of each stratum's sorted order: the frame positions drawn, each one's
    place in that order (the variance estimator pairs neighbours in it) and inclusion probability, and the stratum
    of every frame pair."""

    index: np.ndarray  # frame positions, in a random order (the file's: a partly judged file is a random part)
    position: np.ndarray  # place of each in its stratum's sorted order
    q: np.ndarray  # inclusion probability of each: 1 / the size of its block
    strata: np.ndarray  # stratum of every frame pair (0, 1, ... in the order of ``focus``; the last: the rest)

    @property
    def stratum(self) -> np.ndarray:
        return self.strata[self.index]


def strata_of(pairs: int, focus: Sequence[tuple[np.ndarray, float]] = ()) -> np.ndarray:
    """The stratum of each of ``pairs`` frame pairs: the first ``focus`` mask holding it, else the rest (last)."""
    stratum = np.full(pairs, len(focus), dtype=np.int64)
    for h, (mask, _) in reversed(list(enumerate(focus))):  # earlier masks win where they overlap
        stratum[mask] = h
    return stratum


def _allocate(sizes: np.ndarray, shares: np.ndarray, n: int) -> np.ndarray:
    """Draws per stratum: ``n`` split by ``shares`` (what a stratum too small for its share leaves goes to the others
    by their shares), at most a stratum's size, at least one draw (two where the budget allows) in every non-empty
    stratum, so every pair can be drawn."""
    shares = np.where(sizes > 0, shares, 0.0)
    alloc = np.floor(n * shares / shares.sum()).astype(np.int64)
    strata = int((sizes > 0).sum())
    floor = np.minimum(sizes, 2 if n >= 2 * strata else 1 if n >= strata else 0)
    alloc = np.clip(np.maximum(alloc, floor), 0, sizes)
    while alloc.sum() != n:  # one draw at a time, where the share per draw is largest (few strata, few steps)
        if alloc.sum() < n:
            alloc[int(np.argmax(np.where(alloc < sizes, shares / (alloc + 1), -np.inf)))] += 1
        else:
            alloc[int(np.argmin(np.where(alloc > floor, shares / np.maximum(alloc, 1), np.inf)))] -= 1
    return alloc


def draw_design(
    p: np.ndarray,
    n: int,
    seed: int = 0,
    focus: Sequence[tuple[np.ndarray, float]] = (),
    groups: np.ndarray | None = None,
) -> Draws:
    """Draw ``n`` distinct frame pairs by the stratified design of the module docstring (seeded).

    ``focus``: (frame mask, share of the draws) per subset the estimates are about, made disjoint in
    order; the rest of the frame is the last stratum and takes the share left. Within a stratum the
    pairs are sorted by ``groups`` (the query; its order shuffled) and then by ``p``, cut into ``n_h``
    blocks of ``N_h / n_h`` consecutive pairs (rounded), and one pair is drawn from each block: each
    pair's inclusion probability is one over its block's size, and the draws spread over the queries
    and the detector's range. (A systematic draw, one random start for all blocks, has the same
    inclusion probabilities, but its variance on a given dataset depends on how the relevant pairs
    fall against a single offset, and the neighbour-difference estimate missed that by a fifth on
    planted data; independent picks per block make the estimate hold for every dataset.)
    """
    check_range("n", n, low=1, integer=True)
    if n > len(p):
        raise ValueError(f"a verification sample of {n} pairs asked, but the candidate pool holds {len(p)} unlabeled")
    rng = np.random.default_rng(seed)
    stratum = strata_of(len(p), focus)
    shares = np.array([share for _, share in focus] + [max(1.0 - sum(share for _, share in focus), 0.0)])
    sizes = np.bincount(stratum, minlength=len(shares))
    alloc = _allocate(sizes, np.where(shares > 0, shares, 1e-9), n)
    groups = np.zeros(len(p), dtype=np.int64) if groups is None else np.asarray(groups)
    shuffled = rng.permutation(int(groups.max()) + 1)[groups]
    order = np.lexsort((rng.random(len(p)), -np.asarray(p), shuffled, stratum))  # by stratum, query, p
    start = np.concatenate([[0], np.cumsum(sizes)])
    picked, places, probabilities = [], [], []
    for h in np.flatnonzero(alloc):  # n_h blocks of N_h / n_h consecutive pairs (rounded), one pair from each
        edges = np.round(np.arange(alloc[h] + 1) * sizes[h] / alloc[h]).astype(np.int64)
        width = np.diff(edges)
        place = edges[:-1] + np.floor(rng.random(alloc[h]) * width).astype(np.int64)
        picked.append(order[start[h] + place])
        places.append(place)
        probabilities.append(1 / width)
    index, position, q = np.concatenate(picked), np.concatenate(places), np.concatenate(probabilities)
    shuffle = rng.permutation(len(index))
    return Draws(index[shuffle], position[shuffle], q[shuffle], stratum)


@dataclass
class TotalEstimate:
    """An estimated count of missing positives in a subset of the frame, with its standard error."""

    total: float
    se: float
    size: int  # pairs in the subset
    judged: int  # judged draws
    lam: float
    inside: int = 0  # judged draws that fell in the subset
    exact: bool = False  # every pair of the subset judged: the total is known

    def rate(self, level: float) -> dict[str, float]:
        """The subset's false-negative rate with a Korn–Graubard interval of ``level``.

        That is the Clopper–Pearson interval of the rate at the estimate's effective sample size
        ``r(1−r)/se²`` (the judged draws in the subset where that is undefined: no relevant pair judged
        there, or no spread). A t-interval collapses to a point when a small stratum's draws hold no relevant
        pair: the emitted negatives' interval (2.9% truly missing on CACM at 25% kept) then covered the truth in
        28% of 100 draws at 50 judgments; this one in 98% (``bench/verify.py``). With no judged draw in the
        subset the interval is [0, 1].

        Example:
            >>> TotalEstimate(total=0.0, se=0.0, size=200, judged=50, lam=0.0, inside=10).rate(0.9)["ci_high"]
            0.25887
        """
        if self.size == 0:
            return {"estimated_fn_rate": 0.0, "ci_low": 0.0, "ci_high": 0.0}
        r = min(max(self.total / self.size, 0.0), 1.0)
        if self.exact:
            return {"estimated_fn_rate": round(r, 5), "ci_low": round(r, 5), "ci_high": round(r, 5)}
        if self.inside == 0 or not np.isfinite(self.se):  # no judged draw stands for (part of) the subset
            return {"estimated_fn_rate": round(r, 5), "ci_low": 0.0, "ci_high": 1.0}
        se = self.se / self.size
        n = r * (1 - r) / se**2 if 0 < r < 1 and se > 0 else float(self.inside)
        low, high = exact_bounds(r * n, n, level)
        return {"estimated_fn_rate": round(r, 5), "ci_low": round(float(low), 5), "ci_high": round(float(high), 5)}


def exact_bounds(hits: np.ndarray | float, n: np.ndarray | float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson bounds of a proportion, two-sided ``level``, at (effective, so fractional) ``hits`` of ``n``.

    Example:
        >>> [round(float(b), 4) for b in exact_bounds(10.0, 10.0, 0.8)]  # one-sided 90%: 10 of 10 is not yet 0.8
        [0.7943, 1.0]
    """
    hits, n, tail = np.asarray(hits, dtype=float), np.asarray(n, dtype=float), (1 - level) / 2
    low = np.where(hits > 0, stats.beta.ppf(tail, np.maximum(hits, 1e-9), n - hits + 1), 0.0)
    high = np.where(hits < n, stats.beta.ppf(1 - tail, hits + 1, np.maximum(n - hits, 1e-9)), 1.0)
    return low, high


def _neighbour_moments(values: np.ndarray, stratum: np.ndarray, position: np.ndarray, strata: int) -> np.ndarray:
    """Per stratum, the successive-difference (co)variances of the columns of ``values`` in the design's order:
    ``Σ Δu Δv / (2 (m − 1))`` over neighbouring judged draws, shape ``(strata, k, k)``."""
    order = np.lexsort((position, stratum))
    v, h = values[order], stratum[order]
    same = h[1:] == h[:-1]
    diff = (v[1:] - v[:-1])[same]
    outer = diff[:, :, None] * diff[:, None, :]
    m = np.bincount(h, minlength=strata)
    out = np.zeros((strata, values.shape[1], values.shape[1]))
    np.add.at(out, h[1:][same], outer)
    return out / np.maximum(2 * (m - 1), 1)[:, None, None]


def estimate_total(p: np.ndarray, draws: Draws, y: np.ndarray, subset: np.ndarray) -> TotalEstimate:
    """Missing positives in ``subset`` (a frame mask) from the judged ``draws`` (``y`` 0/1 for each).

    The difference estimator of the module docstring: per stratum ``h`` with ``m_h`` judged of ``N_h``,
    ``λ Σ_D p + Σ_h (N_h / m_h) Σ u 1_D (y − λ p)``, ``u`` the judged draws' inverse inclusion
    probabilities scaled to mean 1 in the stratum (the blocks differ by a pair at most, and a partly
    judged stratum stands for all of it); its variance is ``Σ_h N_h² (1 − m_h/N_h) s²_h / m_h`` with
    ``s²_h`` from successive differences in the design's order (the collapsed-strata estimator of a
    one-per-block design, which credits the spread over queries and probabilities the blocks buy);
    ``λ`` in [0, 1] minimizes it. A stratum with one judged draw gets the largest variance of a 0/1
    variable, 1/4; one with pairs of the subset and no judged draw makes the standard error infinite
    (the interval [0, 1]); a subset whose every pair is judged has its total exactly.
    """
    size = np.bincount(draws.strata).astype(float)
    strata, h = len(size), draws.stratum
    inside = subset[draws.index]
    a, b = np.where(inside, y, 0.0), np.where(inside, p[draws.index], 0.0)
    m = np.bincount(h, minlength=strata).astype(float)
    seen = np.maximum(m, 1)
    u = (1 / draws.q) / (np.bincount(h, 1 / draws.q, minlength=strata) / seen)[h]  # weights of mean 1 per stratum
    weight = np.divide(size, m, out=np.zeros(strata), where=m > 0)
    c = weight**2 * m * (1 - np.divide(m, size, out=np.zeros(strata), where=size > 0))  # N_h² (1 − f_h) / m_h
    ua, ub = u * a, u * b
    centred = np.column_stack([ua - (np.bincount(h, ua, minlength=strata) / seen)[h] * u,
                               ub - (np.bincount(h, ub, minlength=strata) / seen)[h] * u])  # fmt: skip
    moments = _neighbour_moments(centred, h, draws.position, strata)
    lam = 0.0
    if (c * moments[:, 1, 1]).sum() > 0:
        lam = float(np.clip((c * moments[:, 0, 1]).sum() / (c * moments[:, 1, 1]).sum(), 0.0, 1.0))
    s2 = moments[:, 0, 0] - 2 * lam * moments[:, 0, 1] + lam**2 * moments[:, 1, 1]
    touched = np.bincount(draws.strata[subset], minlength=strata) > 0  # strata holding pairs of the subset
    s2 = np.where((m == 1) & touched, 0.25, s2)
    total = lam * float(p[subset].sum()) + float((weight[h] * (ua - lam * ub)).sum())
    unjudged = touched & (m == 0)  # subset pairs no judged draw stands for
    se = float(np.sqrt(max((c * s2).sum(), 0.0))) if not unjudged.any() else float("inf")
    exact = bool(np.all((m == size) | ~touched)) and np.isfinite(se)
    return TotalEstimate(total, se, int(subset.sum()), len(draws.index), lam, int(inside.sum()), exact)


def sample_rows(
    data: RetrievalData,
    pool: CandidatePool,
    frame: Frame,
    n: int,
    seed: int = 0,
    focus: Sequence[tuple[np.ndarray, float]] = (),
) -> list[dict[str, Any]]:
    """The rows of ``verify.jsonl``: ``n`` distinct frame pairs drawn by the design, ``judgment`` empty."""
    draws = draw_design(frame.probability, n, seed, focus, groups=frame.rows)
    sample_id = f"{frame.sample_key}-{seed}-{n}"
    positives = [[data.doc_texts[d] for d in row[row >= 0]] for row in pool.positives]
    sizes = np.bincount(draws.strata)
    out = []
    for position, place, q in zip(draws.index.tolist(), draws.position.tolist(), draws.q.tolist()):
        r, c, h = int(frame.rows[position]), int(frame.cols[position]), int(draws.strata[position])
        out.append({
            "query_id": frame.query_ids[position],
            "doc_id": frame.doc_ids[position],
            "query": pool.query_texts[r],
            "document": data.doc_texts[pool.candidates[r, c]],
            "positives": positives[r],
            "probability": round(float(frame.probability[position]), 6),
            "inclusion_probability": q,
            "stratum": h,
            "stratum_size": int(sizes[h]),
            "position": place,
            "rank": int(frame.rank[position]) + 1,
            "sample_id": sample_id,
            "depth": frame.depth,
            "judgment": None,
            "judge": None,
        })  # fmt: skip
    return out


@dataclass
class Judgments:
    """The judged rows of a verification file, validated."""

    path: Path
    query_ids: list[str]
    doc_ids: list[str]
    probability: np.ndarray
    q: np.ndarray  # inclusion probability of each judged row, as drawn
    stratum: np.ndarray
    position: np.ndarray  # place in the stratum's order (the design's)
    rank: np.ndarray  # 1-based rank among the query's unlabeled candidates
    y: np.ndarray  # 0/1 of the judged rows
    sample_id: str
    rows: int  # rows in the file, judged or not
    depth: int = FRAME_DEPTH  # the depth of the audit that drew the sample (files before it was written: 100)

    @property
    def judged(self) -> int:
        return len(self.y)

    def draws(self, positions: np.ndarray, strata: np.ndarray) -> Draws:
        """The judged rows as :class:`Draws` of the frame (``positions`` from :func:`match`, ``strata`` the frame's);
        an error names the file when a row's stratum is not the one this run's design gives it."""
        wrong = np.flatnonzero(strata[positions] != self.stratum)
        if len(wrong):
            i = int(wrong[0])
            raise DataError(f"{self.path}: query {self.query_ids[i]!r} and document {self.doc_ids[i]!r} are in "
                            f"stratum {int(self.stratum[i])} here but {int(strata[positions[i]])} in this run's design "
                            "(--top-k or the mining options differ from the --verify run)")  # fmt: skip
        return Draws(positions, self.position, self.q, strata)


def _judgment(path: Path, number: int, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return float(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return float(value.strip())
    raise DataError(f"{path}:{number}: field 'judgment' must be 1 (relevant), 0 (not relevant) or empty, got {value!r}")


def read_judgments(path: str | os.PathLike) -> Judgments:
    """Read a filled ``verify.jsonl`` (or a CSV/Parquet with the same columns); errors name file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such judgments file")
    names = ("query_id", "doc_id", "probability", "q", "stratum", "position", "rank", "y")
    keep: dict[str, list[Any]] = {k: [] for k in names}
    sample_ids: set[str] = set()
    depths: set[int] = set()
    seen: dict[tuple[str, str], int] = {}
    rows = 0
    for number, record in read_table(path):
        rows += 1
        if record.get("stratum") in (None, "") and record.get("draws") not in (None, ""):
            raise DataError(f"{path}:{number}: a sample drawn with replacement by an earlier trueneg (field 'draws', "
                            "no 'stratum'): draw a new one with trueneg audit --verify N")  # fmt: skip
        for name in ("query_id", "doc_id", "probability", "inclusion_probability", "stratum", "position", "rank",
                     "sample_id"):
            if record.get(name) in (None, ""):
                raise DataError(f"{path}:{number}: missing field {name!r} (is this a trueneg verify.jsonl?)")
        key = (str(record["query_id"]).strip(), str(record["doc_id"]).strip())
        if key in seen:
            raise DataError(f"{path}:{number}: query {key[0]!r} and document {key[1]!r} again (line {seen[key]})")
        seen[key] = number
        sample_ids.add(str(record["sample_id"]))
        try:
            q, prob = float(record["inclusion_probability"]), float(record["probability"])
            stratum, place, rank = int(record["stratum"]), int(record["position"]), int(record["rank"])
        except (TypeError, ValueError):
            raise DataError(f"{path}:{number}: fields 'inclusion_probability', 'probability', 'stratum', "
                            "'position' and 'rank' must be numbers") from None  # fmt: skip
        if not (0 < q <= 1) or stratum < 0 or place < 0 or rank < 1:
            raise DataError(f"{path}:{number}: field 'inclusion_probability' must be in (0, 1], 'stratum' and "
                            "'position' >= 0, 'rank' >= 1")  # fmt: skip
        depth = record.get("depth")
        if depth not in (None, ""):
            if not str(depth).isdigit() or int(depth) < 1:
                raise DataError(f"{path}:{number}: field 'depth' must be a positive integer, got {depth!r}")
            depths.add(int(depth))
        value = _judgment(path, number, record.get("judgment"))
        if value is None:
            continue
        for name, v in zip(keep, (key[0], key[1], prob, q, stratum, place, rank, value)):
            keep[name].append(v)
    if len(sample_ids) > 1:
        raise DataError(f"{path}: rows of {len(sample_ids)} different samples ({', '.join(sorted(sample_ids))}); "
                        "judge one verify.jsonl at a time")  # fmt: skip
    if not sample_ids:
        raise DataError(f"{path}: no rows")
    if len(depths) > 1:
        raise DataError(f"{path}: rows of {len(depths)} different depths ({', '.join(map(str, sorted(depths)))})")
    return Judgments(path, keep["query_id"], keep["doc_id"], np.array(keep["probability"]), np.array(keep["q"]),
                     np.array(keep["stratum"], dtype=np.int64), np.array(keep["position"], dtype=np.int64),
                     np.array(keep["rank"], dtype=np.int64), np.array(keep["y"]), sample_ids.pop(), rows,
                     depths.pop() if depths else FRAME_DEPTH)  # fmt: skip


def match(judgments: Judgments, frame: Frame, seed: int) -> np.ndarray:
    """Frame positions of the judged rows; an error names the file when it is from another run or sample."""
    expected = f"{frame.sample_key}-{seed}-"
    if not judgments.sample_id.startswith(expected):
        raise DataError(
            f"{judgments.path}: sample {judgments.sample_id!r} was not drawn from this data, model and seed (this "
            f"run's frame is {expected}N): audit with the same data, --model, --depth and --seed as the --verify run"
        )
    index = frame.index()
    positions = np.array([index.get(key, -1) for key in zip(judgments.query_ids, judgments.doc_ids)], dtype=np.int64)
    if (positions < 0).any():
        bad = int(np.flatnonzero(positions < 0)[0])
        raise DataError(f"{judgments.path}: query {judgments.query_ids[bad]!r} and document {judgments.doc_ids[bad]!r} "
                        "are not in the verification frame of this run")  # fmt: skip
    return positions


def check_enough(judgments: Judgments) -> None:
    """Refuse fewer than :data:`MIN_JUDGED` judged rows, saying how many more are needed."""
    if judgments.judged < MIN_JUDGED:
        raise DataError(
            f"{judgments.path}: {judgments.judged} of {judgments.rows} rows are judged; an interval needs at least "
            f"{MIN_JUDGED} ({MIN_JUDGED - judgments.judged} more): fill 'judgment' with 1 or 0"
        )


def verified_block(
    judgments: Judgments,
    frame: Frame,
    draws: Draws,
    subsets: dict[str, np.ndarray],
    level: float = DEFAULT_LEVEL,
) -> dict[str, Any]:
    """``audit.json["verified"]``: for each named frame subset, the verified rate with its interval."""
    check_enough(judgments)
    out: dict[str, Any] = {"judged": judgments.judged, "level": level, "file": str(judgments.path)}
    for name, subset in subsets.items():
        est = estimate_total(frame.probability, draws, judgments.y, subset)
        out[name] = {**est.rate(level), "pairs": est.size, "expected_missing_positives": round(est.total, 2),
                     "lambda": round(est.lam, 3)}  # fmt: skip
    return out


@dataclass
class Calibration:
    """Detector probabilities recalibrated on a judged sample: ``σ(a + b·logit p + c·log rank)``, shrunk towards the
    identity (``a = 0``, ``b = 1``, ``c = 0``); ``rank`` is the 1-based rank among the query's unlabeled candidates."""

    a: float
    b: float
    c: float
    judged: int
    cov: np.ndarray | None = None  # of (a, b, c): the inverse Hessian of the fit (Laplace)

    def __call__(self, p: np.ndarray, rank: np.ndarray, upper: float | None = None) -> np.ndarray:
        """Calibrated probabilities of pairs with detector probability ``p`` at ``rank`` (NaN stays NaN).

        ``upper``: a one-sided level (e.g. 0.9): each pair's upper bound at that level under the fit's
        uncertainty instead, for a cutoff that should hold with that confidence rather than on average.
        """
        p = np.asarray(p, dtype=float)
        logit = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))
        log_rank = np.log(np.maximum(np.asarray(rank, dtype=float), 1.0))
        z = self.a + self.b * logit + self.c * log_rank
        if upper is not None and self.cov is not None:
            x = np.stack(np.broadcast_arrays(np.ones_like(logit), logit, log_rank), axis=-1)
            z = z + stats.norm.ppf(upper) * np.sqrt(np.maximum(np.einsum("...i,ij,...j->...", x, self.cov, x), 0))
        return np.where(np.isnan(p), np.nan, 1 / (1 + np.exp(-z)))

    def to_dict(self) -> dict[str, Any]:
        """The fit, and the calibrated probability (and the upper bound mining filters on) by probability and rank."""
        grid = np.linspace(0, 1, 11)

        def table(upper: float | None) -> dict[str, dict[str, float]]:
            return {f"rank {r}": {f"{g:.1f}": round(float(v), 4) for g, v in zip(grid, self(grid, r, upper))}
                    for r in (1, 10, 100)}  # fmt: skip

        return {"judged": self.judged,
                "calibration": {"intercept": round(self.a, 4), "slope": round(self.b, 4),
                                "log_rank_slope": round(self.c, 4)},
                "calibrated_at": table(None), "upper_bound_level": CALIBRATION_LEVEL,
                "upper_bound_at": table(CALIBRATION_LEVEL)}  # fmt: skip


def calibrate(judgments: Judgments, prior: float = 1.0) -> Calibration:
    """Logistic recalibration of the detector on the judged sample.

    Three parameters, ``P(relevant) = σ(a + b·logit p + c·log rank)``, with a Gaussian prior centred on
    the identity (``a = 0``, ``b = 1``, ``c = 0``; strength ``prior``): 200 judgments cannot pin down a
    free-form curve (an isotonic fit sent every probability below 0.1 to 0 on CISI), but they do correct
    a detector that is over- or under-confident overall. The rank term is there because mining keeps
    the hardest candidates: where the detector's probability hardly tells relevant from not (one
    positive per query), a fit on ``p`` alone came out flat, called every candidate as clean as the
    sample's average, and ``max_fn_rate`` then kept the hardest ones, which are not. The fit's
    covariance (Laplace) gives each pair an upper bound, which mining filters on
    (:data:`CALIBRATION_LEVEL`). At a 5% target with 200 judgments, 3 of 30 samples realized 6.7–7.8%
    with the fit on ``p`` alone, 5 of 30 realized 6.0–10.5% with the rank but no bound, and none above 4.9%
    with both, with as many negatives or more in 5 of 6 collections and regimes; none of 60 above 5.0%
    (``bench/verify.py``).
    A calibrated detector is left as it is.
    """
    from scipy.optimize import minimize

    check_enough(judgments)
    # the design draws by stratum and, within one, by the order of p only, so given p a judged pair is close
    # to an unbiased draw of P(relevant | p, rank): the fit needs no inverse-probability weights, whose
    # spread would only add variance
    p = np.clip(judgments.probability, 1e-6, 1 - 1e-6)
    logit, log_rank, y = np.log(p / (1 - p)), np.log(np.maximum(judgments.rank, 1)), judgments.y

    def loss(theta: np.ndarray) -> float:
        z = theta[0] + theta[1] * logit + theta[2] * log_rank
        nll = np.sum(np.logaddexp(0, z) - y * z)
        return float(nll + 0.5 * prior * (theta[0] ** 2 + (theta[1] - 1) ** 2 + theta[2] ** 2))

    fit = minimize(loss, np.array([0.0, 1.0, 0.0]), method="L-BFGS-B")
    x = np.column_stack([np.ones_like(logit), logit, log_rank])
    mu = 1 / (1 + np.exp(-(x @ fit.x)))
    hessian = (x * (mu * (1 - mu))[:, None]).T @ x + prior * np.eye(3)
    return Calibration(float(fit.x[0]), float(fit.x[1]), float(fit.x[2]), judgments.judged, np.linalg.inv(hessian))


def relabel_threshold(
    judgments: Judgments, target: float = 0.8, min_pairs: int = 10, probability: np.ndarray | None = None
) -> dict[str, Any]:
    """The lowest probability threshold whose estimated precision on the judged sample meets ``target``.

    ``probability``: the judged rows' probabilities to threshold (default: the detector's, as drawn; mining
    passes the calibrated ones, the scale it relabels on).

    Precision of "probability >= t" is the design-weighted share of relevant pairs among the judged
    draws above ``t`` (at least ``min_pairs`` of them); it must meet ``target`` with its one-sided 90%
    Clopper–Pearson lower bound on the weights' effective sample size, so that picking the best of
    many thresholds does not pass noise for precision. (A normal approximation collapses where every
    judged pair above a threshold is relevant: 10 of 10 gave a lower bound of 1.0, and on CISI and
    CACM such thresholds relabeled pairs of which 65–68% were relevant; the exact bound of 10 of 10 is
    0.79.) Returns the threshold (None where none qualifies) and the precision found.

    Example:
        >>> import numpy as np
        >>> ten = Judgments(Path("v.jsonl"), [], [], np.linspace(1, 0.9, 10), np.full(10, 0.1),
        ...                 np.zeros(10, dtype=int), np.arange(10), np.ones(10, dtype=int), np.ones(10), "s", 10)
        >>> relabel_threshold(ten)["threshold"] is None  # 10 of 10 relevant is not yet 0.8 at 90%
        True
    """
    check_range("target", target, low=0.0, high=1.0, low_open=True)
    weight = 1 / judgments.q
    probability = judgments.probability if probability is None else np.asarray(probability, dtype=float)
    order = np.argsort(-probability, kind="stable")
    p, y, w = probability[order], judgments.y[order], weight[order]
    precision = np.cumsum(w * y) / np.cumsum(w)
    effective = np.cumsum(w) ** 2 / np.cumsum(w**2)
    hits = precision * effective
    low = exact_bounds(hits, effective, 0.8)[0]  # the one-sided 90% lower bound
    ok = (np.arange(1, len(p) + 1) >= min_pairs) & (low >= target)
    ok &= np.r_[p[1:] != p[:-1], True]  # a threshold must not split tied probabilities
    if not ok.any():
        best = float(precision[min_pairs - 1 :].max()) if len(p) >= min_pairs else None
        return {"threshold": None, "target": target, "best_precision": None if best is None else round(best, 4),
                "pairs_above": 0}  # fmt: skip
    i = int(np.flatnonzero(ok)[-1])
    return {"threshold": float(p[i]), "target": target, "precision": round(float(precision[i]), 4),
            "precision_low": round(float(low[i]), 4), "pairs_above": i + 1}  # fmt: skip


def judged_labels(data: RetrievalData, judgments: Judgments) -> RetrievalData:
    """``data`` with the judged pairs as labels: judged relevant -> positive (grade 1), not -> judged negative (0)."""
    import dataclasses

    qrels = {q: dict(d) for q, d in data.qrels.items()}
    known_q, known_d = set(data.query_ids), set(data.doc_ids)
    for qid, did, y in zip(judgments.query_ids, judgments.doc_ids, judgments.y.tolist()):
        if qid not in known_q or did not in known_d:
            raise DataError(f"{judgments.path}: query {qid!r} or document {did!r} is not in {data.source}: the file is "
                            "from another dataset")  # fmt: skip
        if qrels.get(qid, {}).get(did, 0) > 0:
            continue  # already a positive
        qrels.setdefault(qid, {})[did] = 1 if y else 0
    return dataclasses.replace(data, qrels=qrels)
