"""One call per job, for the CLI and for scripts: train and evaluate, draw negatives, audit a log."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.io import ROW_SUFFIXES, write_json, write_rows
from trueneg.pu.detector import label_frequency_dict
from trueneg.recommendation.data import SPLITS, Interactions, Split, leave_last_out, physical_memory, random_holdout
from trueneg.recommendation.metrics import evaluate_topk
from trueneg.recommendation.missing import (
    MissingPositiveModel,
    find_missing_positives,
    fit_missing_positives,
    missing_order,
)
from trueneg.recommendation.model import MatrixFactorization
from trueneg.recommendation.samplers import SAMPLERS, HardSampler, NegativeSampler, make_sampler
from trueneg.recommendation.select import choose, validation_split
from trueneg.validation import check_one_of, check_range

ROW_BYTES = 96  # memory per written negative: the int64 draw, its id string and its list slot


def split_interactions(data: Interactions, split: str = "leave-last-out", test_fraction: float = 0.2, seed: int = 0):
    """``leave-last-out`` or ``random`` (``test_fraction`` of each user's interactions) holdout."""
    check_one_of("split", split, SPLITS)
    if split == "leave-last-out":
        return leave_last_out(data, seed)
    return random_holdout(data, test_fraction, seed)


MODELS = ("mf", "als", "ease")
RELABEL_TOPS = (1, 2, 5)  # missing positives relabeled per user that "auto" tries (besides none)
EASE_L2 = (50.0, 200.0, 500.0, 1000.0, 3000.0)  # EASE's penalties that "auto" tries
FN_CHOICES = ("auto", "on", "off", True, False)


def fit_recommender(
    train: Interactions,
    model: str = "als",
    *,
    split: str = "leave-last-out",
    test_fraction: float = 0.2,
    k: int = 20,
    seed: int = 0,
    **params: Any,
) -> tuple[Any, dict[str, Any]]:
    """Fit ``model`` on ``train``, with every ``"auto"`` setting chosen on a validation split of ``train``.

    ``"auto"`` (the default of each) applies to what trueneg adds and to EASE's penalty:
    ``fn_weighting`` (ALS and EASE: add nothing, or relabel each user's top 1, 2 or 5 likeliest missing
    positives, or only ``relabel_top`` when given), ``l2`` (EASE: :data:`EASE_L2`) and ``sampler``
    (MF: uniform, or the fn-aware sampler with ``sampler_kwargs``). The rule is that of
    :mod:`trueneg.recommendation.select`; explicit values are used as given.

    Returns the fitted model and, per chosen setting, its :class:`~trueneg.recommendation.select.Selection`
    as a dict (empty when nothing was "auto").
    """
    from trueneg.recommendation.als import FalseNegativeAwareALS
    from trueneg.recommendation.ease import EASE, check_ease_memory

    check_one_of("model", model, MODELS)
    params = dict(params)
    chosen: dict[str, Any] = {}
    inner: Split | None = None

    def carve() -> Split:  # the validation split, carved once and only when something is "auto"
        nonlocal inner
        if inner is None:
            inner = validation_split(train, split, test_fraction, seed)
        return inner

    if model == "mf":
        if params.get("sampler", "auto") == "auto":
            options = params.pop("sampler_kwargs", None) or {}
            params.pop("sampler", None)
            candidates = [("uniform sampler", {"sampler": "uniform"}),
                          ("fn-aware sampler", {"sampler": "fn-aware", "sampler_kwargs": options})]  # fmt: skip
            pick = choose(lambda **p: MatrixFactorization(seed=seed, **{**params, **p}), candidates, carve(), k,
                          guard=True)  # fmt: skip
            params.update(pick.params)
            chosen["sampler"] = pick.to_dict()
        return MatrixFactorization(seed=seed, **params).fit(train), chosen
    cls = FalseNegativeAwareALS if model == "als" else EASE
    if model == "ease":
        check_ease_memory(train.n_items)  # before any fit
        if params.get("l2", "auto") == "auto":
            params.pop("l2", None)
            candidates = [(f"l2 {value:g}", {"l2": value}) for value in EASE_L2]
            rest = {key: value for key, value in params.items() if key != "fn_weighting"}
            pick = choose(lambda **p: EASE(seed=seed, **{**rest, **p}), candidates, carve(), k)
            params.update(pick.params)
            chosen["l2"] = pick.to_dict()
    fn = params.pop("fn_weighting", "auto")
    if fn not in FN_CHOICES:
        raise ValueError(f"fn_weighting must be auto, on or off, got {fn!r}")
    if fn == "auto":
        tops = (params.pop("relabel_top"),) if "relabel_top" in params else RELABEL_TOPS
        order = missing_order(carve().train, max(tops), params.get("sample_size", 30_000), seed)
        candidates = [("add nothing", {"fn_weighting": False})]
        candidates += [(f"relabel top {top}", {"fn_weighting": True, "relabel_top": top}) for top in tops]
        pick = choose(
            lambda **p: cls(seed=seed, **{**params, **p}), candidates, carve(), k, guard=True,
            fit_options=lambda p: {"relabel_order": order} if p["fn_weighting"] else {},
        )  # fmt: skip
        params.update(pick.params)
        chosen["fn_weighting"] = pick.to_dict()
    else:
        params["fn_weighting"] = fn in (True, "on")
    return cls(seed=seed, **params).fit(train), chosen


def train_recommender(
    data: Interactions,
    *,
    model: str = "mf",
    split: str = "leave-last-out",
    test_fraction: float = 0.2,
    test: Interactions | None = None,
    k: int = 20,
    seed: int = 0,
    **params: Any,
) -> tuple[Any, dict[str, Any]]:
    """Hold out a split (or take ``test``), train a model on the rest, score the held-out items.

    ``model="mf"``: :class:`MatrixFactorization` (BPR or Rel-MF; ``params`` are its own);
    ``model="als"``: :class:`~trueneg.recommendation.als.FalseNegativeAwareALS` (``implicit``'s ALS);
    ``model="ease"``: :class:`~trueneg.recommendation.ease.EASE`. What trueneg adds (relabeled missing
    positives, the fn-aware sampler) and EASE's penalty are ``"auto"`` by default: chosen on a
    validation split carved from the training interactions (:func:`fit_recommender`), reported under
    ``selection`` in the summary. With ``test`` (a log the user brings), all of ``data`` is trained on
    and ``test``'s interactions, mapped to ``data``'s ids, are scored (unknown users/items dropped and
    counted).

    Returns the fitted model and a summary: split sizes, Recall@k / NDCG@k and training seconds.

    Example:
        >>> log = load_interactions("../shared/data/ml-100k")  # doctest: +SKIP
        >>> model, summary = train_recommender(log, model="als")  # doctest: +SKIP
    """
    check_one_of("model", model, MODELS)
    check_range("k", k, low=1, integer=True)
    check_range("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    if data.n_items < 2:
        raise ValueError(f"{data.source or 'the log'}: {data.n_items} item: a recommender needs at least 2 to rank")
    dropped = 0
    if test is None:
        parts = split_interactions(data, split, test_fraction, seed)
        train, held_out = parts.train, parts.test
        if len(held_out) == 0:
            raise ValueError(
                f"{data.source or 'the log'}: no user has 2 or more interactions, so the {split} split holds out "
                "nothing to score; bring a test log (--test)"
            )
    else:
        train, (held_out, dropped) = data, data.align(test)
        if len(held_out) == 0:
            raise ValueError(f"{test.source}: none of the test interactions names a user and an item of {data.source}")
    started = time.perf_counter()
    fitted, chosen = fit_recommender(train, model, split=split, test_fraction=test_fraction, k=k, seed=seed, **params)
    seconds = round(time.perf_counter() - started, 3)
    if test is not None:
        split = "given test log"
    metrics = evaluate_topk(fitted.predict_scores(), train, held_out, k)
    summary = {
        "source": data.source,
        "users": data.n_users,
        "items": data.n_items,
        "model": model,
        "split": split,
        "train_interactions": len(train),
        "test_interactions": len(held_out),
        **({"test_interactions_dropped": dropped} if test is not None else {}),
        **(
            {
                "loss": fitted.loss,
                "sampler": fitted.sampler if isinstance(fitted.sampler, str) else type(fitted.sampler).__name__,
            }
            if model == "mf"
            else {
                "fn_weighting": fitted.fn_weighting,
                "relabel_top": fitted.relabel_top if fitted.fn_weighting else 0,
                "relabeled": fitted.relabeled_,
                **({"l2": fitted.l2} if model == "ease" else {}),
            }
        ),  # fmt: skip
        **metrics,
        "fit_seconds": fitted.fit_seconds_,
        "seconds": seconds,
        **({"selection": chosen} if chosen else {}),
    }
    return fitted, summary


def draw_negatives(
    train: Interactions,
    sampler: str | NegativeSampler,
    model: MatrixFactorization | None = None,
    num_negatives: int = 1,
    seed: int = 0,
    show_progress: bool = False,
    **sampler_kwargs: Any,
) -> tuple[np.ndarray, NegativeSampler]:
    """``(len(train), num_negatives)`` negatives for every interaction of ``train``, and the fitted sampler.

    Score-ranked samplers rank by ``model`` (a uniform-BPR model is trained when none is given).
    """
    fitted = make_sampler(sampler, **sampler_kwargs).fit(train)
    if isinstance(fitted, HardSampler):
        model = model or MatrixFactorization(seed=seed, show_progress=show_progress).fit(train)
        fitted.refresh(model.score_tensor)
    return fitted.sample(train.users, train.items, np.random.default_rng(seed), num_negatives), fitted


def recommend_negatives(
    data: Interactions,
    sampler: str = "fn-aware",
    num_negatives: int = 5,
    seed: int = 0,
    show_progress: bool = False,
    **sampler_kwargs: Any,
) -> list[dict[str, Any]]:
    """Rows ``{user, item, negatives}``: ``num_negatives`` sampled negatives for every interaction of ``data``.

    A row's negatives are distinct. Refused before any work when a user has fewer items without an
    interaction than ``num_negatives``, or when the rows would not fit in half of this machine's
    memory (about ``ROW_BYTES`` bytes per negative once written out as Python rows).
    """
    check_range("num_negatives", num_negatives, low=1, integer=True)
    need = len(data) * num_negatives * ROW_BYTES
    budget = physical_memory() // 2
    if need > budget:
        raise ValueError(
            f"{num_negatives} negatives for each of {len(data)} interactions need about {need / 2**30:.1f} GiB, "
            f"more than half of this machine's memory ({budget / 2**30:.1f} GiB); ask for fewer negatives"
        )
    free = data.n_items - np.bincount(data.users, minlength=data.n_users)
    if len(free) and free.min() < num_negatives:
        user = str(data.user_ids[int(np.argmin(free))])
        raise ValueError(
            f"{num_negatives} distinct negatives asked per interaction, but user {user!r} has only {int(free.min())} "
            f"items without an interaction; ask for at most {int(free.min())}"
        )
    negatives, _ = draw_negatives(data, sampler, None, num_negatives, seed, show_progress, **sampler_kwargs)
    users, items = data.user_ids[data.users], data.item_ids[data.items]
    names = data.item_ids[negatives]
    return [
        {"user": str(u), "item": str(i), "negatives": row}
        for u, i, row in zip(users.tolist(), items.tolist(), names.tolist())
    ]


@dataclass
class RecommendationAudit:
    """Estimated missing positives of an interaction log, per sampler, and the ranked suspects."""

    summary: dict[str, Any]
    missing: MissingPositiveModel

    def to_dict(self) -> dict[str, Any]:
        """The summary (what :meth:`write` puts in a JSON file)."""
        return self.summary

    def to_records(self) -> list[dict[str, Any]]:
        """The likely missing positives, most likely first."""
        return list(self.summary["suspects"])

    def write(self, path: Any) -> Path:
        """Write atomically: ``.jsonl`` / ``.parquet`` = :meth:`to_records`, any other path = :meth:`to_dict`."""
        path = Path(path)
        if path.suffix.lower() in ROW_SUFFIXES:
            write_rows(path, self.to_records())
        else:
            write_json(path, self.to_dict())
        return path


def audit_interactions(
    data: Interactions,
    *,
    samplers: tuple[str, ...] = tuple(SAMPLERS),
    n_suspects: int = 100,
    estimator: str = "tice",
    model: MatrixFactorization | None = None,
    seed: int = 0,
    show_progress: bool = False,
) -> RecommendationAudit:
    """How many unlabeled pairs are missing positives, how many of each sampler's negatives are, and which.

    For every sampler, one negative is drawn per interaction; its *estimated false-negative share*
    is the mean probability (PU model of :mod:`trueneg.recommendation.missing`) that the drawn
    items are missing positives, next to their mean model score (hardness).
    """
    check_range("n_suspects", n_suspects, low=0, integer=True)
    missing = fit_missing_positives(data, estimator, seed=seed)
    model = model or MatrixFactorization(seed=seed, show_progress=show_progress).fit(data)
    scores = model.predict_scores()
    probability = missing.probability_matrix()
    per_sampler = {}
    for name in samplers:
        extra = {"missing_model": missing} if name == "fn-aware" else {}
        negatives, _ = draw_negatives(data, name, model, 1, seed, **extra)
        users = np.repeat(data.users, negatives.shape[1])
        per_sampler[name] = {
            "estimated_fn_share": round(float(probability[users, negatives.ravel()].mean()), 5),
            "mean_score": round(float(scores[users, negatives.ravel()].mean()), 4),
        }
    unlabeled = ~np.isnan(probability)
    suspects = find_missing_positives(missing, n_suspects, data)
    summary = {
        "source": data.source,
        "users": data.n_users,
        "items": data.n_items,
        "interactions": len(data),
        "estimator": estimator,
        **label_frequency_dict(missing.label_frequency, missing.label_frequency_ci),
        "estimated_missing_positives": int(round(float(probability[unlabeled].sum()))),
        "estimated_missing_rate": round(float(probability[unlabeled].mean()), 5),
        "samplers": per_sampler,
        "suspects": suspects.to_records(),
    }
    return RecommendationAudit(summary, missing)
