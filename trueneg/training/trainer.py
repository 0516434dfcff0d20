"""Fine-tune a sentence-transformers model on mined negatives with a false-negative-aware loss."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from trueneg import signals
from trueneg.io import atomic_dir, check_output_folder, resolve
from trueneg.training.config import TrainConfig
from trueneg.training.examples import TrainingExamples, load_examples
from trueneg.training.modules import LOSSES
from trueneg.validation import require_extra

TRAIN_MARKER = "trueneg_train.json"  # every model folder trueneg writes has it; --overwrite replaces only those


@dataclass
class TrainResult:
    """Where the model went, how long training ran and the trainer's log."""

    model_path: str
    examples: int
    steps: int
    seconds: float
    final_loss: float | None
    settings: dict[str, Any]
    log_history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _freeze_below(model: Any, train_layers: int) -> None:
    """Train only the top ``train_layers`` transformer layers (and any modules after the transformer)."""
    backbone = model[0].auto_model
    layers = next(
        (
            m
            for name, m in backbone.named_modules()
            if isinstance(m, torch.nn.ModuleList) and name.split(".")[-1] in ("layer", "layers") and len(m) > 0
        ),
        None,
    )
    if layers is None:
        raise ValueError(f"train_layers: cannot find the transformer layers of {type(backbone).__name__}")
    if not 0 < train_layers <= len(layers):
        raise ValueError(f"train_layers must be in 1..{len(layers)}, got {train_layers}")
    backbone.requires_grad_(False)
    for layer in list(layers)[len(layers) - train_layers :]:
        layer.requires_grad_(True)


def _audit_prior(audit_json: str | os.PathLike) -> float:
    try:
        value = json.loads(Path(audit_json).read_text())["estimated_fn_rate"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{audit_json}: not an audit.json with 'estimated_fn_rate' ({exc})") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"{audit_json}: field 'estimated_fn_rate' must be a number in [0, 1), got {value!r}; rerun the audit "
            "or pass --class-prior"
        )
    return float(value)


def train(
    examples: str | os.PathLike | TrainingExamples | Any,
    model: Any = None,
    config: TrainConfig | None = None,
    *,
    output_dir: str | os.PathLike,
    audit_json: str | os.PathLike | None = None,
    device: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    show_progress: bool = True,
    **options: Any,
) -> TrainResult:
    """Fine-tune ``model`` on a `trueneg mine` output with one of :data:`~trueneg.training.modules.LOSSES`.

    Args:
        examples: a mined file (any output format, .jsonl or .parquet), loaded :class:`TrainingExamples`, or
            rows in memory (a ``datasets.Dataset`` such as ``trueneg.mine(..., return_dataset=True)``).
        model: model name or path (``None``/``"default"`` = the offline all-MiniLM-L6-v2).
        config: the settings below as one validated :class:`~trueneg.training.config.TrainConfig`
            (default ``TrainConfig()``); settings given as keywords override it.
        output_dir: the trained model is saved here (with ``trueneg_train.json``); written to a
            temporary folder beside it and renamed at the end, so an interrupted run leaves no
            half-written model. An existing folder is an error unless ``overwrite``, and even then
            it is replaced only when it is a previous trueneg model (it holds ``trueneg_train.json``),
            never the current folder or a folder holding an input, and only once the new model is
            complete.
        loss: ``"mnrl"`` (InfoNCE, in-batch + mined negatives), ``"fn-masked"`` (drops candidates the
            guide scores above the positive minus ``margin``), ``"debiased"`` (Chuang et al. with
            ``class_prior``, or the ``estimated_fn_rate`` of ``audit_json``), ``"distill"`` (KL to the
            file's soft labels + ``contrastive_weight`` x InfoNCE).
        num_negatives: mined negatives per example (0 = in-batch negatives only); short examples are
            topped up with random negatives (see :meth:`TrainingExamples.to_columns`).
        max_steps: overrides ``epochs`` when given.
        train_layers: fine-tune only the top N transformer layers (faster on CPU; ``None`` = all).
        guide: for ``"fn-masked"``: ``"self"`` (the student's detached scores), ``"base"`` (a frozen
            copy of the starting model, one more forward pass per step) or ``"probability"`` (the
            false-negative detector's probability of each mined negative, ``neg_probability`` of
            `trueneg mine`: a negative counts ``1 - p`` in the denominator).
        inferred: what to do with positives `trueneg mine --fn-action relabel` inferred
            (``pos_inferred``): ``"positive"`` (train on them like labeled ones), ``"soft"`` (each
            such pair's loss weighted by its probability ``pos_probability``; labeled pairs weigh 1)
            or ``"skip"`` (labeled pairs only; the inferred documents are still not negatives).
        debias_temperature: for ``"debiased"``: the temperature at which the share of false
            negatives is estimated (see :func:`~trueneg.training.losses.debiased_contrastive`);
            ``None`` = the loss's own (1 / scale), the published loss, which clamps at scale 20.
        checkpoint_steps: save a checkpoint every N steps (``None``/0: none) in ``.NAME.checkpoints/``
            beside ``output_dir``, the last two kept; they exist only to resume an interrupted run
            and are deleted once the model is written (the finished model carries no optimizer state).
        resume: continue from the latest checkpoint of an interrupted run with the same ``output_dir``.
        query_prompt / document_prompt: prompts prepended to the anchors / to the documents.
        seed: seeds batching and any sampling; training on CPU is deterministic given it.
        device: ``"cpu"``, ``"cuda"``, ...; default: a GPU when present, else the CPU.

    Non-finite inputs are refused (soft labels, when read) and training stops with an error, writing
    nothing, at the first step whose loss is not finite.

    Example:
        >>> result = train("negatives.jsonl", output_dir="model", loss="debiased", class_prior=0.03)  # doctest: +SKIP
        >>> result.model_path  # doctest: +SKIP
        'model'
    """
    require_extra(("accelerate", "datasets"), "train", "training")  # the trainer needs both
    cfg = TrainConfig.build(config, **options)
    inputs = [examples if isinstance(examples, (str, os.PathLike)) else None, audit_json]
    check_output_folder(output_dir, inputs, marker=TRAIN_MARKER, overwrite=overwrite, what="model folder")
    if device is not None and device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU here; use device='cpu'")
    if cfg.loss == "debiased" and cfg.class_prior is None:
        cfg = cfg.replace(class_prior=_audit_prior(audit_json) if audit_json is not None else 0.1)
    run = _prepare(examples, model, cfg, device)
    output_dir = resolve(output_dir)
    checkpoints = output_dir.parent / f".{output_dir.name}.checkpoints"
    last = _latest_checkpoint(checkpoints) if resume else None
    if resume and last is None:
        warnings.warn(f"resume: no checkpoint in {checkpoints}; training from the start", stacklevel=2)
    if not resume and checkpoints.exists():
        shutil.rmtree(checkpoints)  # a previous run's: starting afresh
    try:
        with atomic_dir(output_dir) as staging:
            result = _run(run, _arguments(run, checkpoints, device), last, show_progress, str(output_dir))
            run.student.save(str(staging))
            (staging / TRAIN_MARKER).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    except BaseException:
        if _latest_checkpoint(checkpoints) is None:  # nothing to resume from: leave nothing behind
            shutil.rmtree(checkpoints, ignore_errors=True)
        raise
    shutil.rmtree(checkpoints, ignore_errors=True)  # the model is written: nothing left to resume
    return result


@dataclass
class _Run:
    """A prepared training run: the settings, the examples as columns, the model and its loss."""

    cfg: TrainConfig
    examples: TrainingExamples
    columns: dict[str, list[Any]]
    model_path: str
    student: Any
    loss_options: dict[str, Any]
    loss: Any


def _prepare(examples: Any, model: Any, cfg: TrainConfig, device: str | None) -> _Run:
    """Step 1: read and check the examples, load (and freeze) the model, assemble the loss."""
    from transformers import set_seed

    from trueneg.candidates.encoders import load_model, resolve_model

    examples, weighted, probabilities = _training_examples(examples, cfg)
    set_seed(cfg.seed)
    model_path = resolve_model(None if model == "default" else model)
    student = load_model(model_path, device)
    if cfg.max_seq_length is not None:
        student.max_seq_length = cfg.max_seq_length
    if cfg.train_layers is not None:
        _freeze_below(student, cfg.train_layers)
    loss_options = _loss_options(cfg, weighted, probabilities)
    if cfg.loss == "fn-masked" and cfg.guide == "base":  # a frozen copy of the starting model
        loss_options["guide"] = load_model(model_path, device)
        loss_options["guide"].max_seq_length = student.max_seq_length
    loss_module = LOSSES[cfg.loss](student, **loss_options)
    loss_module.register_forward_hook(_stop_on_non_finite)
    columns = examples.to_columns(cfg.num_negatives, cfg.seed, weights=weighted, probabilities=probabilities)
    return _Run(cfg, examples, columns, model_path, student, loss_options, loss_module)


def _arguments(run: _Run, checkpoints: Path, device: str | None) -> Any:
    """Step 2: the trainer's arguments (schedule, checkpoints, prompts, device) from the settings."""
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments

    cfg = run.cfg
    rows = len(run.columns["anchor"])
    total_steps = cfg.max_steps if cfg.max_steps is not None else math.ceil(cfg.epochs * (rows // cfg.batch_size))
    documents = [c for c in run.columns if c not in ("anchor", "label")]
    prompts = {"anchor": cfg.query_prompt, **dict.fromkeys(documents, cfg.document_prompt)}
    prompts = {k: v for k, v in prompts.items() if v}
    return Arguments(
        output_dir=str(checkpoints),
        prompts=prompts or None,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps is not None else -1,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_steps=round(cfg.warmup_ratio * total_steps),
        batch_sampler="no_duplicates",
        seed=cfg.seed,
        data_seed=cfg.seed,
        save_strategy="steps" if cfg.checkpoint_steps else "no",
        save_steps=cfg.checkpoint_steps or 500,
        save_total_limit=2,
        logging_steps=max(1, min(50, (cfg.max_steps or 50) // 10)),
        report_to="none",
        disable_tqdm=True,  # its bar writes the log lines to stdout; _StderrProgress draws one on stderr
        use_cpu=device == "cpu" or (device is None and not torch.cuda.is_available()),
        dataloader_drop_last=True,
    )


SETTINGS = ("num_negatives", "batch_size", "epochs", "max_steps", "learning_rate", "warmup_ratio")


def _run(run: _Run, args: Any, last: Path | None, show_progress: bool, model_path: str) -> TrainResult:
    """Step 3: train, and describe the run (its settings derived from the config)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import PrinterCallback

    cfg, examples = run.cfg, run.examples
    started = time.perf_counter()
    trainer = SentenceTransformerTrainer(model=run.student, args=args, train_dataset=Dataset.from_dict(run.columns),
                                         loss=run.loss)  # fmt: skip
    trainer.remove_callback(PrinterCallback)  # it prints to stdout, which belongs to --json
    trainer.add_callback(_StopOnSignal())
    if show_progress:
        trainer.add_callback(_StderrProgress())
    state = trainer.train(resume_from_checkpoint=str(last) if last else None)
    seconds = time.perf_counter() - started
    if trainer.state.global_step == 0:
        raise ValueError(
            f"{examples.source}: no training step ran: no batch of {cfg.batch_size} examples without a "
            "repeated text could be formed (in-batch negatives must differ from every positive); lower "
            "batch_size or num_negatives"
        )
    settings = {
        "loss": cfg.loss,
        **{k: v for k, v in run.loss_options.items() if k != "guide"},
        "guide": cfg.guide if cfg.loss == "fn-masked" else None,
        "inferred": cfg.inferred if examples.inferred is not None else None,
        "inferred_pairs": sum(examples.inferred) if examples.inferred is not None else None,
        **{name: getattr(cfg, name) for name in SETTINGS},
        "max_seq_length": run.student.max_seq_length,
        "train_layers": cfg.train_layers,
        "seed": cfg.seed,
        "data": examples.source,
        "base_model": run.model_path,
    }
    loss = float(state.training_loss) if state.training_loss is not None else None
    return TrainResult(model_path, len(examples), int(trainer.state.global_step), round(seconds, 2), loss, settings,
                       list(trainer.state.log_history))  # fmt: skip


def _training_examples(examples: Any, cfg: TrainConfig) -> tuple[TrainingExamples, bool, bool]:
    """The examples ``cfg`` trains on, checked against what its loss needs, and whether pairs are weighted
    (``inferred="soft"``) and negatives carry the detector's probabilities (``guide="probability"``)."""
    if not isinstance(examples, TrainingExamples):
        examples = load_examples(examples)
    if cfg.loss == "distill" and examples.scores is None:
        raise ValueError(f"{examples.source}: loss 'distill' needs soft labels (scores) in the file")
    probabilities = cfg.loss == "fn-masked" and cfg.guide == "probability"
    if probabilities and examples.negative_probabilities is None:
        raise ValueError(
            f"{examples.source}: guide 'probability' needs each negative's false-negative probability "
            "(neg_probability); mine with a detector: --max-fn-rate or --fn-action relabel"
        )
    if cfg.inferred == "skip" and examples.inferred is not None:
        examples = examples.subset([not flag for flag in examples.inferred])
    weighted = cfg.inferred == "soft" and examples.inferred is not None and any(examples.inferred)
    if cfg.loss != "distill":
        examples = replace(examples, scores=None)
    if len(examples) < cfg.batch_size:
        raise ValueError(f"{examples.source}: {len(examples)} examples, fewer than one batch of {cfg.batch_size}")
    return examples, weighted, probabilities


def _loss_options(cfg: TrainConfig, weighted: bool, probabilities: bool) -> dict[str, Any]:
    """The keyword arguments of ``LOSSES[cfg.loss]`` (without the ``"base"`` guide model)."""
    options: dict[str, Any] = {"scale": cfg.scale, "weighted": weighted}
    if cfg.loss == "fn-masked":
        options.update(margin=cfg.margin, probabilities=probabilities)
    elif cfg.loss == "debiased":
        options.update(class_prior=cfg.class_prior, debias_temperature=cfg.debias_temperature)
    elif cfg.loss == "distill":
        options.update(temperature=cfg.temperature, contrastive_weight=cfg.contrastive_weight)
    return options


def _stop_on_non_finite(module: Any, inputs: Any, loss: torch.Tensor) -> None:
    """Forward hook of the loss: raise at the first non-finite value instead of training on into NaN weights."""
    if not torch.isfinite(loss).all():
        raise ValueError(
            f"training stopped: the loss became {loss.detach().float().item()} (not finite); nothing was written. "
            "Lower the learning rate (--lr) or check the soft labels and texts."
        )


def _latest_checkpoint(folder: Path) -> Path | None:
    """The ``checkpoint-N`` subfolder of ``folder`` with the largest N, if any."""
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


class _StopOnSignal(TrainerCallback):
    """Ctrl-C / SIGTERM stop training after the current step (:mod:`trueneg.signals`)."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        signals.check()


class _StderrProgress(TrainerCallback):
    """A progress bar and the trainer's log lines (loss, learning rate), both on stderr: stdout is for ``--json``."""

    bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.max_steps, desc="Training", unit="step", file=sys.stderr)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if logs and self.bar is not None:
            line = json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in logs.items()})
            self.bar.write(line, file=sys.stderr)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
