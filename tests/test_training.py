"""`trueneg train`: reading every mined format, the loss modules, and fine-tuning the offline MiniLM."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.data import DataError, load_beir
from trueneg.io import write_rows
from trueneg.mining.result import FORMATS, MiningResult
from trueneg.training import (
    LOSSES,
    DebiasedContrastiveLoss,
    FalseNegativeMaskedLoss,
    MultipleNegativesRankingLoss,
    SoftLabelDistillationLoss,
    candidate_scores,
    debiased_clamped_share,
    debiased_contrastive,
    false_negative_masked_info_nce,
    info_nce,
    load_examples,
    soft_label_distillation,
    train,
)

DEMO = Path(__file__).resolve().parents[1] / "trueneg" / "data" / "demo"


def _mining_result(soft_labels: bool) -> MiningResult:
    docs = [f"document number {i} about topic {i % 3}" for i in range(12)]
    return MiningResult(
        query_ids=["q0", "q1", "q2"],
        query_texts=["first query", "second query", "third query"],
        doc_ids=[f"d{i}" for i in range(12)],
        doc_texts=docs,
        positives=[np.array([0, 1]), np.array([2]), np.array([3])],
        positive_scores=[np.array([0.9, 0.8]), np.array([0.7]), np.array([0.6])],
        negatives=np.array([[4, 5], [6, 7], [8, -1]]),
        negative_scores=np.array([[0.5, 0.4], [0.3, 0.2], [0.1, -np.inf]]),
        soft_labels=soft_labels,
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_mined_format_reads_back_as_the_same_examples(tmp_path: Path, fmt: str, suffix: str) -> None:
    result = _mining_result(soft_labels=True)
    path = tmp_path / f"rows{suffix}"
    result.write(path, fmt)  # trainer-ready rows, and the teacher's raw scores in the sidecar beside them
    examples = load_examples(path)
    got = sorted(zip(examples.anchors, examples.positives, map(tuple, examples.negatives)))
    want = [
        ("first query", result.doc_texts[0], (result.doc_texts[4], result.doc_texts[5])),
        ("first query", result.doc_texts[1], (result.doc_texts[4], result.doc_texts[5])),
        ("second query", result.doc_texts[2], (result.doc_texts[6], result.doc_texts[7])),
    ]
    if fmt != "n-tuple":  # n-tuple keeps only queries with all negatives
        want.append(("third query", result.doc_texts[3], (result.doc_texts[8],)))
    assert got == sorted(want)
    assert examples.scores is not None
    by_positive = dict(zip(examples.positives, examples.scores))
    assert by_positive[result.doc_texts[1]] == pytest.approx([0.8, 0.5, 0.4])


def test_examples_without_soft_labels_have_no_scores(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_rows(path, _mining_result(soft_labels=False).to_rows("triplet"))
    assert load_examples(path).scores is None


def test_columns_top_up_short_examples_with_seeded_random_negatives(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    write_rows(path, _mining_result(soft_labels=False).to_rows("flagembedding"))
    examples = load_examples(path)
    columns = examples.to_columns(num_negatives=2, seed=3)
    assert list(columns) == ["anchor", "positive", "negative_1", "negative_2", "label"]
    row = examples.anchors.index("third query")
    assert columns["label"][row] == pytest.approx([0.6, 0.1, 0.1])  # a drawn negative gets the lowest score
    assert columns["negative_1"][row] == examples.negatives[row][0]
    assert columns["negative_2"][row] != columns["negative_1"][row]
    assert columns["negative_2"][row] in {n for negs in examples.negatives for n in negs}
    assert columns == examples.to_columns(num_negatives=2, seed=3)
    assert list(examples.to_columns(num_negatives=0)) == ["anchor", "positive", "label"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"query": "q", "pos": ["p"], "neg": "n"}', "rows.jsonl:2: field 'neg' must be a list of strings"),
        ('{"query": "q", "pos": ["p"], "neg": ["n"], "pos_scores": [1, 2], "neg_scores": [0]}', "'pos_scores' has 2"),
        (
            '{"anchor": "q", "positive": "p", "negative": "n"}',
            "rows.jsonl:2: fields ['anchor', 'negative', 'positive']",
        ),
        ('{"text": "q"}', "rows.jsonl:2: cannot tell the format from fields ['text']"),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"query": "q0", "pos": ["p0"], "neg": ["n0"]}\n' + line + "\n")
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_examples(path)


class _Lookup(torch.nn.Module):
    """A 'model' whose sentence embedding is given in the features, to test the loss modules alone."""

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"sentence_embedding": features["emb"]}


def test_loss_modules_apply_the_tested_functions_to_the_columns() -> None:
    gen = torch.Generator().manual_seed(0)
    q, p, n1, n2 = (torch.randn(4, 8, generator=gen) for _ in range(4))
    features = [{"emb": t} for t in (q, p, n1, n2)]
    negs = torch.stack([n1, n2], dim=1)
    model = _Lookup()
    assert MultipleNegativesRankingLoss(model)(features, None) == pytest.approx(info_nce(q, p, negs).item())
    assert FalseNegativeMaskedLoss(model, margin=0.1)(features, None) == pytest.approx(
        false_negative_masked_info_nce(q, p, negs, margin=0.1).item()
    )
    assert DebiasedContrastiveLoss(model, class_prior=0.2)(features, None) == pytest.approx(
        debiased_contrastive(q, p, negs, class_prior=0.2).item()
    )
    labels = torch.rand(4, 3, generator=gen)
    student = 20 * torch.nn.functional.cosine_similarity(q[:, None], torch.stack([p, n1, n2], dim=1), dim=-1)
    pure = SoftLabelDistillationLoss(model, contrastive_weight=0.0)(features, labels)
    assert pure == pytest.approx(soft_label_distillation(student, 20 * labels).item(), rel=1e-5)
    with pytest.raises(ValueError, match="soft-label distillation needs a 'label' column"):
        SoftLabelDistillationLoss(model)(features, None)
    in_batch_only = MultipleNegativesRankingLoss(model)(features[:2], None)
    assert in_batch_only == pytest.approx(info_nce(q, p, q.new_zeros(4, 0, 8)).item())


def test_mnrl_equals_sentence_transformers_multiple_negatives_ranking_loss() -> None:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss as STLoss

    gen = torch.Generator().manual_seed(1)
    features = [{"emb": torch.randn(5, 8, generator=gen)} for _ in range(3)]
    ours = MultipleNegativesRankingLoss(_Lookup())(features, None)
    theirs = STLoss(_Lookup())(features, None)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


def _demo_examples(tmp_path: Path, n: int = 24) -> Path:
    """Real (query, positive, negative) rows from the bundled SciFact slice; negative = a fixed other doc."""
    data = load_beir(DEMO, "train")
    rows = []
    for q in data.mined_query_ids()[:n]:
        pos = [data.doc_texts[data.doc_index(d)] for d, g in data.qrels[q].items() if g > 0]
        neg = data.doc_texts[(data.doc_index(next(iter(data.qrels[q]))) + 7) % len(data.doc_texts)]
        rows.append({"query": data.query_texts[data.query_index(q)], "pos": pos[:1], "neg": [neg]})
    path = tmp_path / "demo.jsonl"
    write_rows(path, rows)
    return path


def _margins(model_path: str, path: Path) -> float:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = 48
    examples = load_examples(path)
    q, p = model.encode(examples.anchors), model.encode(examples.positives)
    n = model.encode([negs[0] for negs in examples.negatives])
    return float(np.mean(np.sum(q * p, axis=1) - np.sum(q * n, axis=1)))


def test_training_fits_the_data_freezes_lower_layers_and_is_deterministic(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from trueneg.candidates.encoders import resolve_model

    path = _demo_examples(tmp_path)
    options = dict(
        loss="mnrl",
        batch_size=8,
        max_steps=6,
        learning_rate=2e-4,
        max_seq_length=48,
        train_layers=2,
        show_progress=False,
    )
    first = train(path, None, output_dir=tmp_path / "a", checkpoint_steps=3, **options)
    second = train(path, "default", output_dir=tmp_path / "b", checkpoint_steps=None, **options)
    assert first.steps == second.steps == 6 and first.examples == 24
    # checkpoints only serve --resume: none is left in or beside a finished model
    assert not (tmp_path / "a" / "checkpoints").exists() and not (tmp_path / ".a.checkpoints").exists()
    assert json.loads((tmp_path / "a" / "trueneg_train.json").read_text())["settings"]["train_layers"] == 2
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    base = load_file(Path(resolve_model(None)) / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a), "same seed, same weights"
    changed = {k for k in a if not torch.equal(a[k], base[k])}
    assert changed and all(".layer.4." in k or ".layer.5." in k for k in changed)
    assert _margins(first.model_path, path) > _margins(resolve_model(None), path) + 0.01


@pytest.mark.parametrize("loss", [name for name in LOSSES if name != "mnrl"])
def test_each_false_negative_aware_loss_trains(tmp_path: Path, loss: str) -> None:
    path = _demo_examples(tmp_path, n=8)
    if loss == "distill":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        write_rows(path, [{**r, "pos_scores": [0.7], "neg_scores": [0.2]} for r in rows])
    result = train(
        path, None, output_dir=tmp_path / "m", loss=loss, batch_size=4, max_steps=2, max_seq_length=32,
        train_layers=1, class_prior=0.05, guide="base", checkpoint_steps=None, show_progress=False,
    )  # fmt: skip
    assert result.steps == 2 and np.isfinite(result.final_loss)
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_bad_requests_fail_before_writing_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _demo_examples(tmp_path, n=8)
    with pytest.raises(ValueError, match="loss 'distill' needs soft labels"):
        train(path, output_dir=tmp_path / "m", loss="distill", batch_size=4)
    with pytest.raises(ValueError, match="loss must be one of"):
        train(path, output_dir=tmp_path / "m", loss="triplet")
    with pytest.raises(ValueError, match="fewer than one batch"):
        train(path, output_dir=tmp_path / "m", batch_size=16)
    with pytest.raises(ValueError, match=r"train_layers must be in 1\.\.6"):
        train(path, output_dir=tmp_path / "m", batch_size=4, train_layers=9)
    with pytest.raises(ValueError, match="not an audit.json"):
        train(path, output_dir=tmp_path / "m", loss="debiased", audit_json=path, batch_size=4)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep")
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        train(path, output_dir=tmp_path / "taken", batch_size=4)

    from sentence_transformers import SentenceTransformerTrainer

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SentenceTransformerTrainer, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(path, output_dir=tmp_path / "m", batch_size=4, max_steps=1, show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.jsonl", "taken"]


def test_cli_train_then_eval(tmp_path: Path) -> None:
    path = _demo_examples(tmp_path, n=8)
    runner = CliRunner()
    out = runner.invoke(
        app,
        ["train", str(path), "--output-dir", str(tmp_path / "m"), "--batch-size", "4", "--max-steps", "2",
         "--max-seq-length", "32", "--loss", "debiased", "--class-prior", "0.05", "--checkpoint-steps", "0",
         "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)  # without -q too: stdout holds the JSON and nothing else
    assert summary["steps"] == 2 and summary["settings"]["class_prior"] == 0.05
    again = runner.invoke(app, ["train", str(path), "--output-dir", str(tmp_path / "m"), "-q"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    out = runner.invoke(app, ["eval", str(tmp_path / "m"), str(DEMO), "--split", "train", "--json", "-q", "--no-cache"])
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0.0 < metrics["ndcg@10"] <= 1.0 and {"recall@100", "mrr@10"} <= metrics.keys()


def test_interrupted_training_resumes_from_its_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from safetensors.torch import load_file

    from trueneg.training.trainer import TrainResult

    path = _demo_examples(tmp_path)
    options = dict(loss="mnrl", batch_size=8, max_steps=6, learning_rate=2e-4, max_seq_length=48, train_layers=2,
                   checkpoint_steps=3, show_progress=False)  # fmt: skip
    whole = train(path, None, output_dir=tmp_path / "whole", **options)
    real_to_dict = TrainResult.to_dict

    def crash(self):  # after training and the model's save, before the folder is renamed into place
        raise RuntimeError("power cut")

    monkeypatch.setattr(TrainResult, "to_dict", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        train(path, None, output_dir=tmp_path / "run", **options)
    assert not (tmp_path / "run").exists()
    assert (tmp_path / ".run.checkpoints" / "checkpoint-6").is_dir()
    monkeypatch.setattr(TrainResult, "to_dict", real_to_dict)
    resumed = train(path, None, output_dir=tmp_path / "run", resume=True, **options)
    assert resumed.steps == whole.steps == 6 and not (tmp_path / ".run.checkpoints").exists()
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "run" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_non_finite_soft_labels_and_losses_are_refused(tmp_path: Path) -> None:
    from trueneg.training.trainer import _stop_on_non_finite

    bad = tmp_path / "nan.jsonl"
    bad.write_text(
        json.dumps({"query": "q", "pos": ["p"], "neg": ["n"], "pos_scores": [1.0], "neg_scores": [float("nan")]}) + "\n"
    )
    with pytest.raises(DataError, match=r"nan\.jsonl:1: field 'neg_scores' item 0 is nan; soft labels must be finite"):
        load_examples(bad)
    with pytest.raises(ValueError, match="the loss became nan"):
        _stop_on_non_finite(None, None, torch.tensor(float("nan")))
    _stop_on_non_finite(None, None, torch.tensor(0.5))
    with pytest.raises(ValueError, match="no CUDA GPU") if not torch.cuda.is_available() else contextlib.nullcontext():
        train(bad, None, output_dir=tmp_path / "gpu", device="cuda", show_progress=False)


def test_train_accepts_rows_in_memory(tmp_path: Path) -> None:
    from datasets import Dataset

    rows = [json.loads(line) for line in _demo_examples(tmp_path, n=8).read_text().splitlines()]
    examples = load_examples(Dataset.from_list(rows))
    assert len(examples) == 8 and examples.negatives[0]
    result = train(Dataset.from_list(rows), None, output_dir=tmp_path / "m", batch_size=4, max_steps=1,
                   max_seq_length=32, checkpoint_steps=0, query_prompt="query: ", show_progress=False)  # fmt: skip
    assert result.steps == 1


def test_weights_make_the_loss_a_weighted_mean() -> None:
    gen = torch.Generator().manual_seed(2)
    q, p = torch.randn(4, 8, generator=gen), torch.randn(4, 8, generator=gen)
    negs = torch.randn(4, 2, 8, generator=gen)
    per_pair = torch.stack([info_nce(q, p, negs, weights=torch.eye(4)[i]) for i in range(4)])
    assert info_nce(q, p, negs, weights=torch.ones(4)).item() == pytest.approx(info_nce(q, p, negs).item())
    w = torch.tensor([1.0, 0.5, 0.0, 0.25])
    assert info_nce(q, p, negs, weights=w).item() == pytest.approx(((w * per_pair).sum() / w.sum()).item(), rel=1e-5)
    for fn in (lambda w: debiased_contrastive(q, p, negs, 0.1, weights=w),
               lambda w: false_negative_masked_info_nce(q, p, negs, margin=0.1, weights=w)):  # fmt: skip
        assert fn(torch.ones(4)).item() == pytest.approx(fn(None).item(), rel=1e-6)
        assert fn(w).item() != pytest.approx(fn(None).item(), rel=1e-3)


def test_negative_probabilities_softly_mask_the_mined_negatives() -> None:
    gen = torch.Generator().manual_seed(3)
    q, p = torch.randn(3, 8, generator=gen), torch.randn(3, 8, generator=gen)
    negs = torch.randn(3, 2, 8, generator=gen)
    negs[0, 0] = q[0] + 0.1 * p[0]  # a hard negative of query 0 that dominates its denominator
    zero = torch.zeros(3, 2)
    assert false_negative_masked_info_nce(q, p, negs, negative_probabilities=zero).item() == pytest.approx(
        info_nce(q, p, negs).item(), rel=1e-6
    )
    # p = 1 on query 0's first negative: the same as that candidate never being in query 0's denominator
    probs = zero.clone()
    probs[0, 0] = 1.0
    masked = false_negative_masked_info_nce(q, p, negs, negative_probabilities=probs)
    scores = candidate_scores(q, p, negs)
    scores[0, 3] = float("-inf")  # layout: 3 positives, then query 0's negatives
    expected = torch.nn.functional.cross_entropy(scores, torch.arange(3))
    assert masked.item() == pytest.approx(expected.item(), rel=1e-6)
    # p = 0.5 counts the candidate half: between keeping and removing it
    probs[0, 0] = 0.5
    half = false_negative_masked_info_nce(q, p, negs, negative_probabilities=probs).item()
    assert masked.item() < half < info_nce(q, p, negs).item()
    with pytest.raises(ValueError, match="negative_probabilities must be"):
        false_negative_masked_info_nce(q, p, negs, negative_probabilities=torch.zeros(3, 3))


def test_debiased_loss_reduces_to_the_published_one_and_no_longer_clamps_at_scale_20() -> None:
    gen = torch.Generator().manual_seed(4)
    q = torch.nn.functional.normalize(torch.randn(8, 64, generator=gen), dim=-1)
    p = torch.nn.functional.normalize(q + 0.03 * torch.randn(8, 64, generator=gen), dim=-1)  # cos ~ 0.97
    negs = torch.nn.functional.normalize(torch.randn(8, 2, 64, generator=gen), dim=-1)  # cos ~ 0
    tau, scale = 0.05, 20.0
    # Chuang et al. written out: N * max((mean e^s - tau e^{s+}) / (1 - tau), e^{-scale})
    s = candidate_scores(q, p, negs, scale)
    pos = s.diagonal()
    off = ~torch.eye(8, s.shape[1], dtype=torch.bool)
    n = off.sum(1)
    g = ((torch.exp(s) * off).sum(1) / n - tau * torch.exp(pos)) / (1 - tau)
    g = torch.clamp(g, min=float(np.exp(-scale)))
    published = (-torch.log(torch.exp(pos) / (torch.exp(pos) + n * g))).mean()
    assert debiased_contrastive(q, p, negs, tau, scale, debias_temperature=None).item() == pytest.approx(
        published.item(), rel=1e-4
    )
    # at scale 20 the published loss clamps for every query here: no gradient reaches the encoder
    assert debiased_clamped_share(q, p, negs, tau, scale, debias_temperature=None) == 1.0
    assert debiased_clamped_share(q, p, negs, tau, scale, debias_temperature=0.5) == 0.0
    grads = {}
    for t in (None, 0.5):
        neg = negs.clone().requires_grad_(True)
        debiased_contrastive(q, p, neg, tau, scale, debias_temperature=t).backward()
        grads[t] = neg.grad.abs().max().item()
    assert grads[None] < 1e-6 < grads[0.5]
    with pytest.raises(ValueError, match="debias_temperature must be > 0"):
        debiased_contrastive(q, p, negs, tau, debias_temperature=0.0)


def test_train_uses_inferred_positives_softly_or_skips_them(tmp_path: Path) -> None:
    path = _demo_examples(tmp_path, n=12)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    extra = [r["neg"][0] + " (also relevant)" for r in rows]
    rows = [
        {**r, "pos": r["pos"] + [e], "pos_inferred": [False, True], "pos_probability": [1.0, 0.6],
         "neg_probability": [0.2]}
        for r, e in zip(rows, extra)
    ]  # fmt: skip
    write_rows(path, rows)
    options = dict(batch_size=4, max_steps=2, max_seq_length=32, train_layers=1, checkpoint_steps=None,
                   show_progress=False)  # fmt: skip
    soft = train(path, None, output_dir=tmp_path / "soft", loss="fn-masked", guide="probability", inferred="soft",
                 **options)  # fmt: skip
    assert soft.examples == 24 and soft.settings["weighted"] and soft.settings["probabilities"]
    assert soft.settings["inferred_pairs"] == 12 and np.isfinite(soft.final_loss)
    skipped = train(path, None, output_dir=tmp_path / "skip", inferred="skip", **options)
    assert skipped.examples == 12 and skipped.settings["inferred_pairs"] == 0
    write_rows(path, [{k: v for k, v in r.items() if k != "neg_probability"} for r in rows])
    with pytest.raises(ValueError, match="guide 'probability' needs each negative's false-negative probability"):
        train(path, None, output_dir=tmp_path / "x", loss="fn-masked", guide="probability", **options)
    with pytest.raises(ValueError, match="inferred must be one of"):
        train(path, None, output_dir=tmp_path / "x", inferred="maybe", **options)
    assert not (tmp_path / "x").exists()
    bad = [{**r, "pos_probability": [1.0, 1.5]} for r in rows]
    write_rows(path, bad)
    with pytest.raises(DataError, match=r"demo.jsonl:1: field 'pos_probability' must hold probabilities in \[0, 1\]"):
        load_examples(path)
