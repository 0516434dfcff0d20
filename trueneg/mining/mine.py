"""``mine`` and ``mine_negatives``: false-negative-aware hard-negative mining for retrieval training data.

The pipeline per query: retrieve candidates (dense, BM25 or hybrid) -> drop labeled positives and
texts identical to a positive -> keep the rank window -> drop lexical near-duplicates of a
positive -> drop candidates the positive-aware filters flag as likely false negatives -> sample
``num_negatives`` of what remains. Every step is vectorized over all queries
(:func:`~trueneg.mining.stages.mine_pool`); a run takes the engine's path (:mod:`trueneg.mining.engine`).

Judged negatives (qrels grade 0) are known negatives: they are exempt from the near-duplicate and
score filters (never treated as suspected false negatives) but still obey the rank window and
sampling.
"""

from __future__ import annotations

from typing import Any, Literal

from trueneg.candidates.encoders import ModelLike
from trueneg.data.dataset import RetrievalData
from trueneg.mining.config import MiningConfig
from trueneg.mining.engine import Inputs, mine_in_memory, plan
from trueneg.mining.result import MiningResult
from trueneg.mining.stages import explain_empty, mine_pool
from trueneg.validation import check_one_of

__all__ = ["explain_empty", "mine", "mine_negatives", "mine_pool"]


def mine_negatives(
    data: RetrievalData,
    model: ModelLike = None,
    config: MiningConfig | None = None,
    *,
    inputs: Inputs | None = None,
    **options: Any,
) -> MiningResult:
    """Mine hard negatives that are unlikely to be unlabeled positives: retrieve, then :func:`mine_pool`.

    Args:
        data: corpus, queries and qrels (see :mod:`trueneg.data`). Queries without a positive are skipped.
        model: the :class:`~trueneg.candidates.Encoder` of the dense retriever (e.g.
            ``SentenceTransformerEncoder("path", backend="onnx-int8", query_prompt="query: ")``), or a
            sentence-transformers model name/path/instance encoded with the default settings; default
            the offline all-MiniLM-L6-v2. Unused with ``retriever="sparse"``. Its ``query_prompt`` is
            written to the rows.
        config: the settings below as one validated :class:`~trueneg.mining.config.MiningConfig`
            (default ``MiningConfig()``); settings given as keywords override it.
        inputs: the objects and files below (teacher, detector, judges, judgments, cache, pool) as one
            :class:`~trueneg.mining.engine.Inputs`; given as keywords they override it.
        num_negatives: negatives per query.
        retriever: ``"dense"`` (exact FAISS inner product), ``"sparse"`` (BM25) or ``"hybrid"``
            (reciprocal-rank fusion of both; filters then use the dense cosine scores).
        sampling: ``"top"``, ``"random"`` or ``"simans"`` (see :mod:`trueneg.mining.sampling`).
        range_min / range_max: rank window of candidates, counted after removing labeled positives
            (``range_min=r`` skips the ``r`` hardest); default ``range_max = range_min + 10 * num_negatives``.
        max_score: TopK-Abs threshold. margin: TopK-MarginPos margin. perc_pos: TopK-PercPos
            percentage (default 0.95; ``None`` disables). min_score: drop candidates scoring lower.
        near_duplicate: TF-IDF cosine above which a candidate counts as a near-duplicate of a
            positive (default 0.9; ``None`` disables).
        simans_a / simans_b: SimANS parameters, for cosine-scale scores.
        teacher: optional bi-encoder or cross-encoder that rescores candidates; its scores then drive
            the filters and hardness order, are written out as soft labels, and give the
            false-negative detector a second opinion (the ``teacher_*`` signals of :mod:`trueneg.pu.evidence`).
        teacher_type: ``"auto"``, ``"bi-encoder"`` or ``"cross-encoder"``.
        max_fn_rate: target false-negative rate among the emitted negatives. Candidates get a
            probability of being a missing positive (:func:`trueneg.pu.estimate_false_negatives`);
            the largest probability cutoff whose emitted negatives have an expected false-negative
            rate <= the target is chosen (hardest negatives that meet it) and reported in
            ``summary["false_negatives"]["cutoff"]``. It replaces TopK-PercPos (``perc_pos`` is ignored).
        estimate_fn: report the estimated false-negative rate of the emitted negatives even
            without ``max_fn_rate``. fn_estimator: ``"roc"`` (default), ``"tice"``, ``"elkan-noto"`` or ``"km2"``.
        fn_action: what happens to *suspected* false negatives, the window's candidates whose detector
            probability is at least ``relabel_probability``: ``"drop"`` (default; only the filters
            act, as before), ``"relabel"`` (up to ``max_inferred`` per query, most probable first,
            become inferred positives: written after the labeled ones, flagged ``pos_inferred`` /
            ``positive_inferred``, never emitted as negatives) or ``"drop-query"`` (a query with at
            least ``drop_query_count`` suspects is left out whole, RLHN's choice for queries whose
            labels are too incomplete to trust). Both compute the detector (as ``estimate_fn``).
        judges / judge_budget / judgments_file: a judge cascade (:mod:`trueneg.mining.judges`) after
            trueneg's probability: suspects are then the candidates every judge flags (each judge
            sees only what the previous one flagged, at most ``judge_budget`` pairs after the first);
            with ``fn_action="drop"`` they are dropped (``dropped["judged_relevant"]``). Every
            judgment goes to ``judgments_file`` (JSONL) when given.
        fn_detector: ``"multi"`` (default: score, leave-one-out similarity to the query's other
            positives, BM25 agreement, other queries' labels), ``"score"`` (the score-only model) or a
            configured :class:`~trueneg.pu.FalseNegativeDetector`.
        seed: seed of the random and SimANS sampling.
        cache_dir: embedding cache of a model given by name and of the teacher (``False`` disables).
        show_progress: progress bars.
        pool / fn_estimate: candidates already retrieved and an estimate already fitted on them (see
            :func:`~trueneg.mining.stages.mine_pool`).
        judgments: a filled ``verify.jsonl`` (``trueneg audit --verify``): judged pairs enter the data as
            labels (relevant -> positive, not -> a judged negative, never filtered); the detector's
            probabilities are recalibrated on the judged sample (a logistic fit on the probability and the
            rank, :func:`trueneg.pu.verify.calibrate`), so
            ``max_fn_rate`` means what it says on this data; with ``fn_action="relabel"`` only pairs
            above the threshold whose estimated precision meets ``relabel_precision`` are relabeled
            (none when no threshold does: ``summary.extra["verification"]`` says so).
        backend / query_prompt / document_prompt / batch_size: deprecated; settings of the encoder
            (give ``model=SentenceTransformerEncoder(...)``), still honoured with a ``DeprecationWarning``.

    Returns:
        A :class:`~trueneg.mining.result.MiningResult`; ``result.to_rows("flagembedding")`` gives rows.

    Example:
        >>> from trueneg.data import load_beir
        >>> data = load_beir("../shared/data/scifact", split="train")  # doctest: +SKIP
        >>> result = mine_negatives(data, num_negatives=10, perc_pos=0.95)  # doctest: +SKIP
        >>> result.summary["queries"]  # doctest: +SKIP
        809
    """
    return mine_in_memory(plan(data, model, config, inputs=inputs, **options))


def mine(
    data: Any,
    model: ModelLike = None,
    *,
    format: str = "flagembedding",
    split: str = "train",
    corpus: Any = None,
    columns: Any = None,
    return_type: Literal["auto", "rows", "dataset", "pandas"] = "auto",
    extra_columns: bool = False,
    return_dataset: bool = False,
    **options: Any,
) -> Any:
    """Mine negatives and return the output rows of ``format``, as ``trueneg mine`` writes them.

    ``data`` is a :class:`~trueneg.data.RetrievalData`, a BEIR folder or pair file path, a Hugging Face
    ``datasets.Dataset`` of (query, positive) columns, a ``DatasetDict`` (its ``split``), or a pandas
    ``DataFrame`` of the same columns. ``corpus``: extra documents (a list of texts, or a corpus file
    path for a pair file) that serve as negative candidates. ``columns``: a
    :class:`~trueneg.data.Columns` naming the pair columns. ``options`` are those of
    :func:`mine_negatives`.

    The rows come back in the shape they came in (``return_type="auto"``): a ``datasets.Dataset`` for a
    Dataset (as sentence-transformers' ``mine_hard_negatives`` returns), a ``DataFrame`` for a DataFrame,
    a list of dicts otherwise; ``"rows"``, ``"dataset"`` or ``"pandas"`` ask for one
    (``return_dataset=True`` is the older spelling of ``"dataset"``). They train as they are:
    ``extra_columns=True`` adds the probabilities and inferred flags (see :mod:`trueneg.mining.result`).

    Example:
        >>> import trueneg
        >>> rows = trueneg.mine("../shared/data/scifact", split="train")  # doctest: +SKIP
        >>> sorted(rows[0])  # doctest: +SKIP
        ['neg', 'neg_scores', 'pos', 'pos_scores', 'query']
    """
    from trueneg.data.loaders import from_hf_dataset, load_data

    check_one_of("return_type", return_type, ("auto", "rows", "dataset", "pandas"))
    shape = "dataset" if return_dataset else return_type
    if isinstance(data, RetrievalData):
        loaded = data
    elif isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        loaded = load_data(data, split=split, corpus=corpus, columns=columns)
    else:
        if hasattr(data, "keys") and hasattr(data, "column_names") and isinstance(data.column_names, dict):
            if split not in data:  # a DatasetDict
                raise ValueError(f"the DatasetDict has no split {split!r}; splits: {list(data.keys())}")
            data = data[split]
        if hasattr(data, "to_dict") and hasattr(data, "columns") and hasattr(data, "iloc"):  # a pandas DataFrame
            shape = "pandas" if shape == "auto" else shape
            data = data.to_dict(orient="records")
        elif hasattr(data, "column_names") and hasattr(data, "features"):  # a datasets.Dataset
            shape = "dataset" if shape == "auto" else shape
        loaded = from_hf_dataset(data, corpus=corpus, columns=columns)
    result = mine_negatives(loaded, model, **options)
    if shape == "dataset":
        return result.to_dataset(format, extra_columns)
    if shape == "pandas":
        return result.to_pandas(format, extra_columns)
    return result.to_rows(format, extra_columns)
