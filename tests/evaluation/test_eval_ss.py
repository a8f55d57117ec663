"""Tests of benchmarks/eval_ss.py and modeling_ssrlm.evaluation.benchmark on a tiny fixture."""

from __future__ import annotations

import json

import numpy as np
import pytest
from script_loader import load_script
from ss_fixture import RECORDS, write_tiny_ss_datasets

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.evaluation.benchmark import (
    EvalSet,
    MethodRun,
    compare_methods,
    load_baselines,
    per_sequence_f1,
    score_run,
)
from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction

eval_ss = load_script("benchmarks/eval_ss.py")

TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "pair_hidden_channels": 4, "pair_num_blocks": 1}


@pytest.fixture
def data_root(tmp_path):
    return write_tiny_ss_datasets(tmp_path / "data")


def test_eval_writes_one_table_with_decoders_vienna_and_timing(tmp_path, data_root, capsys):
    SSRLMForPairPrediction(SSRLMConfig(**TINY)).save_pretrained(tmp_path / "model")
    code = eval_ss.main([
        "--model", f"tiny={tmp_path / 'model'}", "--splits", "tiny/test", "tiny/valid@14", "--data-root", str(data_root),
        "--out", str(tmp_path / "eval"), "--decoders", "threshold", "vienna_mfe", "--timing-lengths", "30",
        "--timing-repeats", "1", "--identity-to", "tiny/train",
    ])
    assert code == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert set(report["splits"]) == {"tiny/test", "tiny/valid@14"}
    rows = report["splits"]["tiny/test"]
    assert set(rows) == {"tiny [threshold]", "tiny [vienna_mfe]", eval_ss.VIENNA}
    assert report["splits"]["tiny/valid@14"][eval_ss.VIENNA]["n_sequences"] == 2  # the two hairpins
    for row in rows.values():
        for key in ("precision", "recall", "f1", "f1_shift1", "auprc", "f1_noncanonical", "seconds_per_sequence"):
            assert key in row, key
        assert row["n_identity_>=80%"] + row["n_identity_<50%"] + row["n_identity_50-80%"] == 4
    # the fixture's hairpins are ViennaRNA's MFE structures and poly-A is unpaired: a perfect baseline
    assert (rows[eval_ss.VIENNA]["precision"], rows[eval_ss.VIENNA]["f1"]) == (1.0, 1.0)
    assert report["timing"][0]["length"] == 30 and report["timing"][0]["tiny_seconds"] > 0
    assert report["timing"][0]["tiny_cpu_seconds"] > 0 and report["timing_jobs"] >= 1  # CPU of all processes
    markdown = (tmp_path / "eval" / "eval.md").read_text()
    assert "| ViennaRNA MFE | 1.000 | 1.000 |" in markdown
    assert markdown in capsys.readouterr().out


def test_stored_baselines_are_matched_by_id_and_scored_by_the_same_scorer(tmp_path):
    eval_set = EvalSet("bprna/TS0", [r.id for r in RECORDS], [r.sequence for r in RECORDS],
                       [list(r.pairs) for r in RECORDS])
    with (tmp_path / "bprna_ts0.mxfold2.jsonl").open("w") as handle:
        for record in reversed(RECORDS):  # order must not matter
            pairs = [list(pair) for pair in record.pairs][:2]  # half of each hairpin: recall 0.5 where paired
            handle.write(json.dumps({"id": record.id, "sequence": record.sequence, "pairs": pairs}) + "\n")
    runs = load_baselines(tmp_path, eval_set)
    assert set(runs) == {"MXfold2"}
    scores = score_run(eval_set, runs["MXfold2"])
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(np.mean([0.5, 0.4, 1.0, 0.5]))
    assert scores["seconds_per_sequence"] is None
    missing = EvalSet("bprna/TS0", ["other"], ["ACGU"], [[]])
    assert load_baselines(tmp_path, missing) == {}  # a tool that does not cover the set is not scored


def test_identity_bins_come_from_score_run():
    eval_set = EvalSet("x", ["a", "b"], ["GGGGAAAACCCC", "AAAA"], [[(0, 11)], []])
    run = MethodRun([[(0, 11)], [(0, 3)]], None, 2.0)
    scores = score_run(eval_set, run, ["<50%", ">=80%"])
    assert (scores["f1_identity_<50%"], scores["f1_identity_>=80%"], scores["f1_identity_50-80%"]) == (1.0, 0.0, None)
    assert scores["seconds_per_sequence"] == 1.0


def test_eval_rejects_a_model_folder_without_a_pair_head(tmp_path, data_root, capsys):
    SSRLMForMaskedLM(SSRLMConfig(**TINY)).save_pretrained(tmp_path / "mlm")
    code = eval_ss.main(["--model", str(tmp_path / "mlm"), "--splits", "tiny/test", "--data-root", str(data_root),
                         "--out", str(tmp_path / "eval"), "--timing-lengths"])
    assert code == 2
    assert "does not hold a pair model" in capsys.readouterr().err


def test_eval_rejects_an_unknown_split(tmp_path, data_root, capsys):
    SSRLMForPairPrediction(SSRLMConfig(**TINY)).save_pretrained(tmp_path / "model")
    code = eval_ss.main(["--model", str(tmp_path / "model"), "--splits", "tiny/nope", "--data-root", str(data_root),
                         "--out", str(tmp_path / "eval"), "--timing-lengths"])
    assert code == 2
    assert "unknown split" in capsys.readouterr().err


def test_paired_comparison_per_set_and_over_all_sets():
    eval_set = EvalSet("x", ["a", "b"], ["GGGGAAAACCCC", "GGGGAAAACCCC"], [[(0, 11), (1, 10)], [(0, 11)]])
    perfect = per_sequence_f1(eval_set, MethodRun([[(0, 11), (1, 10)], [(0, 11)]], None, None))
    half = per_sequence_f1(eval_set, MethodRun([[(0, 11)], [(0, 11)]], None, None))  # F1 2/3 on a, 1 on b
    assert perfect.units == ["x:a", "x:b"] and half.values.tolist() == pytest.approx([2 / 3, 1.0])
    other = EvalSet("y", ["a"], ["GGGGAAAACCCC"], [[(0, 11)]])
    empty = per_sequence_f1(other, MethodRun([[]], None, None))
    full = per_sequence_f1(other, MethodRun([[(0, 11)]], None, None))
    result = compare_methods({"x": {"A": perfect, "B": half}, "y": {"A": full, "B": empty}, "z": {"A": full}}, "A", "B")
    assert set(result) == {"x", "y", "all sets"}  # z lacks B: not compared
    assert result["x"]["difference"] == pytest.approx(1 / 6) and result["x"]["n_sequences"] == 2
    # the resamples of x hold 0, 1 or 2 copies of sequence a: differences 0 … 1/3, never below 0
    assert 0.0 <= result["x"]["ci_low"] <= result["x"]["ci_high"] <= 1 / 3 + 1e-12
    assert result["y"]["difference"] == 1.0 and result["y"]["ci_low"] == result["y"]["ci_high"] == 1.0
    assert result["all sets"]["difference"] == pytest.approx((1 / 3 + 1.0) / 3) and result["all sets"]["n_sequences"] == 3
    # a resample is <= 0 only when all three draws are x:b (difference 0): p ≈ 2 · (1/3)³ = 2/27
    assert result["all sets"]["p_bootstrap"] == pytest.approx(2 / 27, abs=0.02)


def test_eval_compares_two_methods_on_the_same_records(tmp_path, data_root, capsys):
    SSRLMForPairPrediction(SSRLMConfig(**TINY)).save_pretrained(tmp_path / "model")
    argv = ["--model", f"tiny={tmp_path / 'model'}", "--splits", "tiny/test", "tiny/valid", "--data-root", str(data_root),
            "--out", str(tmp_path / "eval"), "--timing-lengths", "--compare", eval_ss.VIENNA, "tiny"]
    assert eval_ss.main(argv) == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    comparison = report["comparisons"][f"{eval_ss.VIENNA} − tiny"]
    assert set(comparison) == {"tiny/test", "tiny/valid", "all sets"}
    for name in ("tiny/test", "tiny/valid"):  # the mean of the per-sequence differences is the table's difference
        rows = report["splits"][name]
        assert comparison[name]["difference"] == pytest.approx(rows[eval_ss.VIENNA]["f1"] - rows["tiny"]["f1"])
    assert "## Paired comparisons" in (tmp_path / "eval" / "eval.md").read_text()
    capsys.readouterr()
    assert eval_ss.main(argv[:-2] + ["RNAfold", "tiny"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --compare: no method 'RNAfold' in this run")
