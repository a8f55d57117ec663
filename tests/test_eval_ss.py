"""Tests of benchmarks/eval_ss.py on a tiny fixture (model + ViennaRNA rows, breakdowns, timing)."""

from __future__ import annotations

import json

import pytest
from script_loader import load_script
from ss_fixture import write_tiny_ss_datasets

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction

eval_ss = load_script("benchmarks/eval_ss.py")

TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "pair_hidden_channels": 4, "pair_num_blocks": 1}


@pytest.fixture
def data_root(tmp_path):
    return write_tiny_ss_datasets(tmp_path / "data")


def test_eval_writes_table_json_with_vienna_and_timing(tmp_path, data_root, capsys):
    SSRLMForPairPrediction(SSRLMConfig(**TINY)).save_pretrained(tmp_path / "model")
    code = eval_ss.main([
        "--model", str(tmp_path / "model"), "--splits", "tiny/test", "tiny/valid", "--data-root", str(data_root),
        "--out", str(tmp_path / "eval"), "--limit", "3", "--timing-lengths", "30", "20",
    ])
    assert code == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert set(report["splits"]) == {"tiny/test", "tiny/valid"}
    rows = report["splits"]["tiny/test"]
    assert set(rows) == {"SSR-LM", eval_ss.VIENNA}
    for row in rows.values():
        for key in ("precision", "recall", "f1", "f1_shift1", "auprc", "precision_at_l", "f1_watson_crick",
                    "f1_wobble", "f1_noncanonical", "f1_len_0_50", "n_sequences"):
            assert key in row, key
        assert row["n_sequences"] == 3
    # the fixture's hairpins are ViennaRNA's MFE structures and poly-A is unpaired: a perfect baseline
    vienna = rows[eval_ss.VIENNA]
    assert (vienna["precision"], vienna["recall"], vienna["f1"]) == (1.0, 1.0, 1.0)
    assert [row["length"] for row in report["timing"]] == [20, 30]
    assert all(row["model_seconds"] > 0 and row["peak_rss_mib"] > 0 for row in report["timing"])
    assert report["threshold"] == 0.5 and report["model_class"] == "SSRLMForPairPrediction"
    markdown = (tmp_path / "eval" / "eval.md").read_text()
    assert "| ViennaRNA (RNAfold MFE) | 1.000 | 1.000 | 1.000 |" in markdown
    assert markdown in capsys.readouterr().out


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
