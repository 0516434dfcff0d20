"""The one path of a run (trueneg.mining.engine): every check before any work, once; the sinks; the rules table."""

from __future__ import annotations

from pathlib import Path

import pytest

from trueneg.data import load_beir
from trueneg.mining import RULES, MiningConfig, ScaleConfig, check_output, write_negatives
from trueneg.mining.engine import Inputs, ResultSink, drive, fit, open_source, plan
from trueneg.mining.rules import DROP_REASONS, REMEDIES, filter_settings
from trueneg.mining.stages import explain_empty


def test_outputs_are_checked_against_every_input_before_any_work(tiny_beir: Path, tmp_path: Path) -> None:
    corpus = tiny_beir / "corpus.jsonl"
    with pytest.raises(ValueError, match="is an input of this run"):
        check_output(tmp_path / "rows.jsonl", inputs=[tmp_path / "rows.trueneg-extra.jsonl"])  # the sidecar too
    with pytest.raises(ValueError, match="the judge log and the output are the same file"):
        check_output(tmp_path / "rows.jsonl", judgments_file=tmp_path / "rows.jsonl")
    with pytest.raises(ValueError, match="format must be one of"):
        check_output(tmp_path / "rows.jsonl", "pairs")
    with pytest.raises(ValueError, match="is an input of this run"):
        check_output(corpus.with_suffix(".jsonl"), inputs=[corpus])
    assert list(tmp_path.iterdir()) == [tiny_beir]  # nothing written, no probe left behind


def test_the_scale_path_refuses_what_only_memory_does_before_any_work(tiny_beir: Path, hash_encoder) -> None:
    data = load_beir(tiny_beir, "train")
    with pytest.raises(ValueError, match="takes no judges and no judgments"):
        plan(data, hash_encoder, scale=ScaleConfig(), inputs=Inputs(judges=["some-judge"]))
    with pytest.raises(ValueError, match="retriever must be dense"):
        plan(data, hash_encoder, MiningConfig(retriever="sparse"), index="exact")  # a ScaleConfig field selects it
    assert hash_encoder.calls == 0  # refused before anything was encoded
    assert not plan(data, hash_encoder).streamed and plan(data, hash_encoder, index="exact").streamed


def test_memory_and_index_sources_mine_the_same_rows(tiny_beir: Path, hash_encoder, tmp_path: Path) -> None:
    data = load_beir(tiny_beir, "train")
    config = MiningConfig(num_negatives=2, perc_pos=None, near_duplicate=None)
    paths = [tmp_path / "memory.jsonl", tmp_path / "index.jsonl"]
    write_negatives(data, paths[0], hash_encoder, config, show_progress=False)
    summary = write_negatives(data, paths[1], hash_encoder, config, ScaleConfig(index="exact"), show_progress=False)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert summary["engine"] == "local" and summary["rows_written"] == 2
    run = plan(data, hash_encoder, config, inputs=Inputs(show_progress=False))
    with open_source(run) as source:
        sink = ResultSink()
        mined = drive(run, source, fit(run, source), sink)
    assert mined["negatives_emitted"] == sink.result.summary["negatives_emitted"] == 4


def test_an_empty_run_writes_nothing_and_names_the_rule(tiny_beir: Path, hash_encoder, tmp_path: Path) -> None:
    data = load_beir(tiny_beir, "train")
    out = tmp_path / "rows.jsonl"
    with pytest.raises(ValueError, match=r"dropped per rule: out_of_range: \d+. Try: widen the window"):
        write_negatives(data, out, hash_encoder, MiningConfig(num_negatives=1, range_min=8), show_progress=False)
    assert not out.exists() and list(tmp_path.iterdir()) == [tiny_beir]
    # a filter that drops every candidate leaves the judged negative (q2's d5): known negatives are exempt
    summary = write_negatives(data, out, hash_encoder, MiningConfig(min_score=2.0), show_progress=False)
    assert summary["negatives_emitted"] == summary["judged_negatives_emitted"] == 1
    assert summary["dropped"]["min_score"] > 0


def test_the_rules_table_is_the_summary_and_the_remedies() -> None:
    assert DROP_REASONS == tuple(rule.name for rule in RULES) and len(set(DROP_REASONS)) == len(RULES)
    assert set(REMEDIES) <= set(DROP_REASONS)
    assert list(filter_settings(MiningConfig())) == ["max_score", "margin", "perc_pos", "min_score", "near_duplicate"]
    assert filter_settings(MiningConfig(max_fn_rate=0.05))["perc_pos"] is None  # the detector replaces it
    summary = {"dropped": dict.fromkeys(DROP_REASONS, 0) | {"margin": 3, "out_of_range": 1}, "queries": 2,
               "range": [0, 5], "false_negatives": None}  # fmt: skip
    message = explain_empty(summary)
    assert "margin: 3, out_of_range: 1" in message and message.index("lower margin") < message.index("widen")


def test_the_library_refuses_to_write_over_the_data_it_read(tiny_beir: Path, hash_encoder) -> None:
    data = load_beir(tiny_beir, "train")
    before = (tiny_beir / "queries.jsonl").read_bytes()
    with pytest.raises(ValueError, match="is an input of this run"):
        write_negatives(data, tiny_beir / "queries.jsonl", hash_encoder, show_progress=False)
    assert (tiny_beir / "queries.jsonl").read_bytes() == before and hash_encoder.calls == 0


def test_an_unknown_option_lists_every_option_a_run_takes(tiny_beir: Path, hash_encoder) -> None:
    data = load_beir(tiny_beir, "train")
    listed = r"unknown mining option\(s\) fn_cutof; the options are .*fn_detector.*index.*teacher"
    with pytest.raises(TypeError, match=listed):
        plan(data, hash_encoder, fn_cutof=0.5)
