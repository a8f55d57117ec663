"""``scripts/choose_decoder_threshold.py``: decoder and thresholds chosen on validation, written to config.json."""

from __future__ import annotations

import json

import pytest

from modeling_ssrlm import SSRLMConfig, SSRLMForPairPrediction
from script_loader import load_script
from ss_fixture import write_tiny_ss_datasets

choose = load_script("scripts/choose_decoder_threshold.py")


@pytest.fixture
def folder(tmp_path):
    config = SSRLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         pair_hidden_channels=4, pair_num_blocks=1)
    SSRLMForPairPrediction(config).save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_the_best_decoder_on_validation_is_written_with_its_threshold(folder, tmp_path, capsys):
    data_root = write_tiny_ss_datasets(tmp_path / "ss")
    weights = (folder / "model.safetensors").read_bytes()
    assert choose.main([
        str(folder), "--decoder", "threshold", "vienna_mfe", "--splits", "tiny/valid", "--data-root", str(data_root),
        "--canonical-only", "--noncanonical", "--prior-cache-dir", str(tmp_path / "cache"),
    ]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    config = json.loads((folder / "config.json").read_text())
    assert set(report["f1_by_decoder"]) == {"threshold", "vienna_mfe"}
    best = max(report["f1_by_decoder"].values())
    assert report["f1_by_decoder"][report["decoder"]] == best
    # an untrained head gives ViennaRNA's MFE structures through vienna_mfe: the fixture's hairpins
    assert report["f1_by_decoder"]["vienna_mfe"] == pytest.approx(1.0) and report["decoder"] == "vienna_mfe"
    assert (config["pair_decoder"], config["pair_threshold"]) == (report["decoder"], report["threshold"])
    by_threshold = {float(t): f1 for t, f1 in report["f1_by_threshold"]["vienna_mfe"].items()}
    assert by_threshold[report["threshold"]] == best and report["threshold"] == min(
        t for t, f1 in by_threshold.items() if f1 == best
    ), "ties go to the lowest threshold"
    assert config["pair_canonical_only"] is True and config["pair_noncanonical_threshold"] is None
    assert (folder / "model.safetensors").read_bytes() == weights  # config only


def test_the_stacked_noncanonical_pass_is_chosen_on_its_own_splits(folder, tmp_path, capsys):
    data_root = write_tiny_ss_datasets(tmp_path / "ss")
    assert choose.main([
        str(folder), "--decoder", "vienna_mfe", "--splits", "tiny/valid", "--data-root", str(data_root),
        "--canonical-only", "--noncanonical", "stacked", "--noncanonical-splits", "tiny/test",
        "--prior-cache-dir", str(tmp_path / "cache"),
    ]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    config = json.loads((folder / "config.json").read_text())
    assert report["noncanonical_splits"] == ["tiny/test"] and report["noncanonical_placement"] == "stacked"
    assert config["pair_noncanonical_placement"] == "stacked"
    # the fixture's labels hold no non-canonical pair: every pass only adds false pairs (the A·A inside
    # each hairpin stacks on its closing pair), so none keeps the F1 of decoding without it
    f1 = {float(t): v for t, v in report["f1_by_noncanonical_threshold"].items()}
    assert f1[0.0] < f1[1.0] == pytest.approx(report["f1"])
    assert config["pair_noncanonical_threshold"] is None and report["noncanonical_threshold"] is None
