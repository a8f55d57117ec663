"""The floor's calibrated confidence: features by hand, the fit, the config field, the model and the CLI."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_ssrlm.fold3d import SSRLMForStructurePrediction, SSRLMStructureConfig
from modeling_ssrlm.fold3d.confidence import (
    CALIBRATION_FEATURES,
    calibrated_plddt,
    calibration_features,
    fit_calibration,
)
from modeling_ssrlm.fold3d.data import load_chains
from modeling_ssrlm.fold3d.features import compute_features, compute_features_many, features_batch
from modeling_ssrlm.fold3d.lddt import lddt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_fold3d_cli import TINY, data  # noqa: E402,F401  (the module-scoped chain sets)
from test_fold3d_floor import FLOOR_STEPS, HAIRPINS, PAIRS, FixedSource, floor_config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import fold3d  # noqa: E402

COEFFICIENTS = [0.4, 0.2, 0.3, -0.05]


def test_features_by_hand():
    probabilities = torch.zeros(1, 5, 5)
    probabilities[0, 0, 3] = probabilities[0, 3, 0] = 0.8
    probabilities[0, 1, 2] = probabilities[0, 2, 1] = 0.1
    probabilities[0, 1, 4] = probabilities[0, 4, 1] = 0.5  # residue 4 is padding: must not count
    pairs = torch.zeros(1, 5, 5)
    pairs[0, 0, 3] = pairs[0, 3, 0] = 1
    mask = torch.tensor([[1.0, 1, 1, 1, 0]])
    features = calibration_features(probabilities, pairs, mask)[0]
    log4 = math.log(4)
    expected = torch.tensor([[1, 1, 0.8, log4], [1, 0, 0.9, log4], [1, 0, 0.9, log4], [1, 1, 0.8, log4], [0, 0, 0, 0]])
    torch.testing.assert_close(features, expected)
    plddt = calibrated_plddt(features[None], COEFFICIENTS)[0]
    assert plddt[0].item() == pytest.approx(0.4 + 0.2 + 0.3 * 0.8 - 0.05 * log4)
    assert plddt[1].item() == pytest.approx(0.4 + 0.3 * 0.9 - 0.05 * log4)
    assert calibrated_plddt(features[None], [2.0, 0, 0, 0]).max() == 1.0  # clipped
    assert calibrated_plddt(features[None], [-1.0, 0, 0, 0]).max() == 0.0
    with pytest.raises(ValueError, match="need 4 coefficients"):
        calibrated_plddt(features[None], [0.1, 0.2])


def test_fit_recovers_the_coefficients_and_skips_residues_without_lddt():
    rng = np.random.default_rng(0)
    features, targets = [], []
    for length in (20, 35, 50):
        x = np.column_stack([np.ones(length), rng.integers(0, 2, length), rng.uniform(size=length),
                             np.full(length, np.log(length))])
        y = x @ np.array(COEFFICIENTS)
        y[::7] = np.nan  # no lDDT there: left out, not counted as 0
        features.append(x)
        targets.append(y)
    np.testing.assert_allclose(fit_calibration(features, targets), COEFFICIENTS, atol=1e-9)
    with pytest.raises(ValueError, match="one residue-lDDT array per feature array"):
        fit_calibration(features, targets[:2])
    with pytest.raises(ValueError, match=r"\(L, 4\) per chain"):
        fit_calibration([x[:, :3] for x in features], targets)
    with pytest.raises(ValueError, match="at least 4 residues"):
        fit_calibration([features[0][:3]], [targets[0][:3]])


@pytest.mark.parametrize("bad", [[0.1, 0.2, 0.3], [0.1, 0.2, float("nan"), 0.0], [True, 0.0, 0.0, 0.0], "abcd"])
def test_config_refuses_a_bad_calibration(bad):
    with pytest.raises(ValueError, match="floor_plddt_calibration must be 4 finite numbers"):
        floor_config(floor_plddt_calibration=bad)
    with pytest.raises(ValueError, match="needs start_from_floor=True and use_secondary_structure=True"):
        floor_config(floor_plddt_calibration=COEFFICIENTS, use_secondary_structure=False)


def test_calibrated_model_gives_the_linear_model_as_floor_plddt(tmp_path):
    features = compute_features(HAIRPINS, FixedSource(PAIRS), FLOOR_STEPS)
    inputs = features_batch([features])
    torch.manual_seed(0)
    head_model = SSRLMForStructurePrediction(floor_config()).eval()
    assert head_model.config.floor_plddt_calibration is None  # folders saved before the field: the head
    head_model.save_pretrained(tmp_path / "head")
    calibrated = SSRLMForStructurePrediction.from_pretrained(tmp_path / "head")
    calibrated.config.floor_plddt_calibration = COEFFICIENTS
    calibrated.save_pretrained(tmp_path / "calibrated")
    reloaded = SSRLMForStructurePrediction.from_pretrained(tmp_path / "calibrated").eval()
    assert reloaded.config.floor_plddt_calibration == COEFFICIENTS
    with torch.no_grad():
        head, fitted = head_model(**inputs), reloaded(**inputs)
    paired = np.zeros(len(HAIRPINS), bool)
    paired[[k for pair in PAIRS for k in pair]] = True
    unpaired_probability = 1 - 0.01 * len(HAIRPINS)  # FixedSource: 0.01 everywhere (diagonal too) but on pairs
    state = np.where(paired, 0.9, unpaired_probability)
    expected = np.clip(0.4 + 0.2 * paired + 0.3 * state - 0.05 * np.log(len(HAIRPINS)), 0, 1)
    np.testing.assert_allclose(fitted.floor_plddt[0].numpy(), expected, atol=1e-6)
    torch.testing.assert_close(fitted.plddt, head.plddt)  # the network's pLDDT stays its head's
    torch.testing.assert_close(fitted.floor_plddt_logits, head.floor_plddt_logits)
    assert not torch.allclose(head.floor_plddt, fitted.floor_plddt)


def test_calibrate_fits_the_floor_of_the_training_chains_and_reports_validation(data, tmp_path, capsys):  # noqa: F811
    model_dir = tmp_path / "model"
    cache = str(tmp_path / "cache")
    assert fold3d.main(["train", "--data", str(data), "--output-dir", str(model_dir), "--max-steps", "1",
                        "--eval-steps", "1", "--feature-cache", cache, *TINY]) == 0
    capsys.readouterr()
    out = tmp_path / "calibrated"
    assert fold3d.main(["calibrate", "--model", str(model_dir / "last"), "--data", str(data),
                        "--feature-cache", cache, "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["features"] == list(CALIBRATION_FEATURES) and report["train_chains"] == 2
    assert report["valid_chains"] == 1 and set(report["head"]) == set(report["calibrated"])
    assert report["command"].startswith("python fold3d.py calibrate")

    config = SSRLMForStructurePrediction.from_pretrained(model_dir).config
    train = load_chains(data / "train.npz")
    features = compute_features_many([c.sequence for c in train], config.secondary_structure_source,
                                     config.floor_steps, cache, config.floor_helix_extension)
    x, y = [], []
    for chain, feature in zip(train, features):
        length = len(chain.sequence)
        x.append(calibration_features(torch.from_numpy(feature.probabilities)[None].double(),
                                      torch.from_numpy(feature.pairs)[None], torch.ones(1, length))[0].numpy())
        y.append(lddt(feature.floor_translations, *chain.atom("C4'"), per_residue=True)[1])
    np.testing.assert_allclose(report["coefficients"], fit_calibration(x, y))
    assert SSRLMStructureConfig.from_pretrained(out).floor_plddt_calibration == pytest.approx(report["coefficients"])

    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["weights"] == "after the last step" and summary["floor_plddt_calibration"] == report
    released = tmp_path / "released"
    assert fold3d.main(["export", "--model", str(out), "--default-mode", "floor", "--out", str(released)]) == 0
    recipe = json.loads((released / "recipe.json").read_text())
    assert recipe["weights"] == "after the last step" and recipe["floor_plddt_calibration"] == report
    card = (released / "README.md").read_text()
    assert "Floor pLDDT: a calibrated linear model of the 2D" in card
    bias, paired, state, log_length = report["coefficients"]
    signs = ["−" if value < 0 else "+" for value in (paired, state, log_length)]
    assert (f"{bias:.4f} {signs[0]} {abs(paired):.4f}·paired {signs[1]} {abs(state):.4f}·state_probability "
            f"{signs[2]} {abs(log_length):.4f}·log_length") in card and "Fitted on the floor's per-residue C4' lDDT of 2 training" in card


def test_calibrate_refuses_a_model_without_the_floor(data, tmp_path, capsys):  # noqa: F811
    from test_fold3d_model import tiny_config

    SSRLMForStructurePrediction(tiny_config()).save_pretrained(tmp_path / "identity")
    assert fold3d.main(["calibrate", "--model", str(tmp_path / "identity"), "--data", str(data),
                        "--out", str(tmp_path / "out")]) == 2
    assert "only a model that starts from the floor" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_calibration_benchmark_scores_each_confidence_against_a_direct_computation(data, tmp_path, capsys):  # noqa: F811
    from script_loader import load_script

    from modeling_ssrlm.fold3d.losses import plddt_bin_centers

    torch.manual_seed(0)
    model = SSRLMForStructurePrediction(floor_config(floor_plddt_calibration=COEFFICIENTS, floor_steps=30))
    model.save_pretrained(tmp_path / "model")
    benchmark = load_script("benchmarks/plddt_calibration.py")
    out = tmp_path / "report.json"
    chain_sets = [str(data / "train.npz"), str(data / "valid.npz")]
    assert benchmark.main(["--model", str(tmp_path / "model"), "--chains", *chain_sets,
                           "--feature-cache", str(tmp_path / "cache"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    train = result["sets"][chain_sets[0]]
    chains = load_chains(data / "train.npz")
    features = compute_features_many([c.sequence for c in chains], "viennarna", 30, tmp_path / "cache",
                                     model.config.floor_helix_extension)
    means = {"calibrated": [], "floor_head": [], "floor_lddt": []}
    model.eval()
    for chain, feature in zip(chains, features):
        inputs = features_batch([feature])
        with torch.no_grad():
            output = model(**inputs)
        x = calibration_features(inputs["ss_probabilities"], inputs["ss_pairs"], torch.ones(1, len(chain.sequence)))
        means["calibrated"].append(float(calibrated_plddt(x, COEFFICIENTS).mean()))
        head = torch.softmax(output.floor_plddt_logits[0], -1) @ plddt_bin_centers(model.config.num_plddt_bins)
        means["floor_head"].append(float(head.mean()))
        means["floor_lddt"].append(lddt(feature.floor_translations, *chain.atom("C4'")))
    for row, expected in zip(train["per_chain"], zip(*means.values())):
        assert (row["floor_plddt"], row["floor_head"], row["floor_lddt"]) == pytest.approx(expected, abs=1e-6)
    assert train["summary"]["floor_plddt"]["mean_absolute_error"] == pytest.approx(
        np.mean(np.abs(np.array(means["calibrated"]) - means["floor_lddt"])))
    assert np.isnan(train["summary"]["floor_plddt"]["pearson_r"])  # two chains: no correlation claimed
    assert "| floor pLDDT, calibrated linear model" in out.with_suffix(".md").read_text()

    SSRLMForStructurePrediction(floor_config()).save_pretrained(tmp_path / "uncalibrated")
    assert benchmark.main(["--model", str(tmp_path / "uncalibrated"), "--chains", chain_sets[0],
                           "--out", str(tmp_path / "x.json")]) == 2
    assert "has no floor_plddt_calibration" in capsys.readouterr().err


def test_released_model_writes_the_calibrated_floor_plddt():
    from modeling_ssrlm.fold3d.inference import default_model_dir, fold_sequence

    folder = default_model_dir()
    model = SSRLMForStructurePrediction.from_pretrained(folder)
    config = model.config
    recipe = json.loads((Path(folder) / "recipe.json").read_text())["floor_plddt_calibration"]
    assert config.default_mode == "floor" and config.floor_plddt_calibration == pytest.approx(recipe["coefficients"])
    assert recipe["calibrated"]["pearson_r"] > recipe["head"]["pearson_r"]  # why it replaced the head (validation)
    sequence = "GGGCGCAAGCCUAUAGCAGGCGAAAGCCUGCUUUCC"
    folded = fold_sequence(sequence, model, "floor")
    features = compute_features(sequence, config.secondary_structure_source, config.floor_steps,
                                config.floor_helix_extension)
    x = calibration_features(torch.from_numpy(features.probabilities)[None].double(),
                             torch.from_numpy(features.pairs)[None], torch.ones(1, len(sequence)))
    expected = calibrated_plddt(x, config.floor_plddt_calibration)[0].numpy()
    np.testing.assert_allclose(folded.plddt, expected, atol=1e-5)
    assert 0.3 < folded.plddt.mean() < 0.8 and len(np.unique(folded.plddt.round(4))) > 2
