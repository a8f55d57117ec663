"""The released folders load offline: the default pair model (the folder ``models/DEFAULT`` names, also
through the CLI), the PDB fine-tune of it (``models/ssrlm-ss-priors-pdb``), their calibration, and the
pre-trained SSR-LM backbone (``models/ssrlm-8m``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

import modeling_ssrlm
from modeling_ssrlm import (
    AutoModelForPairPrediction,
    SSRLMForMaskedLM,
    SSRLMForPairPrediction,
    SSRLMModel,
    SSRLMTokenizer,
)
from modeling_ssrlm.cli import default_model_dir, main
from modeling_ssrlm.secondary_structure import base_pair_type, parse_dot_bracket

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = REPO_ROOT / "models" / (REPO_ROOT / "models" / "DEFAULT").read_text().strip()
PDB = REPO_ROOT / "models" / "ssrlm-ss-priors-pdb"
PAIR_FOLDERS = [SHIPPED, PDB]
BACKBONE = REPO_ROOT / "models" / "ssrlm-8m"
VALIDATION_SPLITS = {"bprna/VL0", "spot_rna_pdb/VL1", "rna3db_2d/valid"}
PACKAGE_DIR = Path(modeling_ssrlm.__file__).parent


def test_cli_default_is_the_shipped_folder(monkeypatch):
    monkeypatch.delenv("SSRLM_MODEL", raising=False)
    assert default_model_dir() == SHIPPED


@pytest.mark.parametrize("folder", PAIR_FOLDERS, ids=lambda folder: folder.name)
def test_folder_is_hub_style_with_a_generated_card(folder):
    names = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
    front_matter = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert front_matter["library_name"] == "transformers"
    assert {"pipeline_tag", "tags", "license"} <= set(front_matter)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "ssrlm" and config["architectures"] == ["SSRLMForPairPrediction"]
    assert 0.0 < config["pair_threshold"] < 1.0


def test_auto_classes_load_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert isinstance(AutoTokenizer.from_pretrained(SHIPPED), SSRLMTokenizer)
    assert isinstance(AutoModel.from_pretrained(SHIPPED), SSRLMModel)
    model = AutoModelForPairPrediction.from_pretrained(SHIPPED)
    assert isinstance(model, SSRLMForPairPrediction)
    prediction = model.predict(["GGGGAAACCCCAUAUGGGGAAACCCC"])[0]
    assert prediction.probabilities.shape == (26, 26)
    assert parse_dot_bracket(prediction.dot_bracket) == prediction.pairs


def test_predict_command_with_the_default_model(capsys, monkeypatch):
    monkeypatch.delenv("SSRLM_MODEL", raising=False)
    assert main(["predict", str(REPO_ROOT / "examples" / "example.fa"), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::3] == [">tRNA-Phe_yeast", ">hairpin", ">5S_fragment"]
    for sequence, structure in zip(lines[1::3], lines[2::3]):
        assert len(sequence) == len(structure)


def test_backbone_folder_is_the_pre_trained_mlm_with_a_generated_card(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    card = (BACKBONE / "README.md").read_text()
    front_matter = yaml.safe_load(card.split("---")[1])
    assert front_matter["pipeline_tag"] == "fill-mask" and front_matter["library_name"] == "transformers"
    recipe = json.loads((BACKBONE / "recipe.json").read_text())
    assert recipe["masking"] == "ssm" and recipe["tokens"] == recipe["steps"] * 2 * 1024
    assert recipe["command"] in card  # the card is generated from the recipe
    model = AutoModelForMaskedLM.from_pretrained(BACKBONE).eval()
    assert isinstance(model, SSRLMForMaskedLM) and model.num_parameters() == 7_971_552
    tokenizer = AutoTokenizer.from_pretrained(BACKBONE)
    with torch.no_grad():
        logits = model(**tokenizer(["GGGGAAACCCC"], return_tensors="pt")).logits
    assert logits.shape == (1, 13, 9) and torch.isfinite(logits).all()


@pytest.mark.parametrize("folder", PAIR_FOLDERS, ids=lambda folder: folder.name)
def test_shipped_pair_models_record_their_recipe_evaluation_and_calibration(folder):
    recipe = json.loads((folder / "recipe.json").read_text())
    assert recipe["task"] == "secondary-structure" and "rfam_ss/train" in " ".join(recipe["datasets"])
    assert recipe["command"] in (folder / "README.md").read_text()  # the card is generated from the recipe
    calibration = json.loads((folder / "calibration.json").read_text())
    assert set(calibration["splits"]) <= VALIDATION_SPLITS  # validation only
    assert calibration["ece"] < 0.025 and calibration["max_probability"] > 0.9
    assert calibration["sequences_with_ties_in_top"] <= 0.05 * calibration["sequences"]


def test_the_pdb_model_is_the_default_fine_tuned_on_3d_derived_structures():
    default, pdb = (json.loads((folder / "recipe.json").read_text()) for folder in PAIR_FOLDERS)
    assert pdb["fine_tuning_stages"][:-1] == default["fine_tuning_stages"]
    assert pdb["fine_tuning_stages"][-1]["from"] == "models/ssrlm-ss-priors"
    assert pdb["steps"] == default["steps"] + pdb["fine_tuning_stages"][-1]["steps"]
    assert pdb["datasets"][-1] == "spot_rna_pdb/TR1,rna3db_2d/train"


@pytest.mark.parametrize("folder", PAIR_FOLDERS, ids=lambda folder: folder.name)
def test_shipped_probabilities_have_no_ceiling_and_no_ties_among_the_top_pairs(folder):
    """Issue 14: the first released head capped every probability at 0.49, with ties among its best pairs."""
    model = AutoModelForPairPrediction.from_pretrained(folder)
    trna = "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAAGAUCUGGAGGUCCUGUGUUCGAUCCACAGAAUUCGCACCA"
    [probabilities] = model.pair_probabilities([trna])
    upper = np.sort(probabilities[np.triu_indices(len(trna), k=1)])[::-1]
    assert upper[0] > 0.8 and upper[-1] < 0.01
    assert len(np.unique(upper[:15])) == 15
    acceptor_stem = [(i, 71 - i) for i in range(7)]
    assert np.mean([probabilities[i, j] for i, j in acceptor_stem]) > 0.6
    assert set(acceptor_stem) <= set(model.predict([trna])[0].pairs)


@pytest.mark.parametrize("folder", PAIR_FOLDERS, ids=lambda folder: folder.name)
def test_a_repeated_segment_is_not_paired_with_its_copy(folder):
    """The first releases, trained without the main diagonal in the loss, put ~1 on (i, i) and so on the
    identical-base 'pairs' (i, i + offset) between a segment and its exact copy
    (benchmarks/repeat_artefact.py). The released networks were trained with the diagonal as negatives
    (pair_min_separation = 0): the copy diagonal is as low as any unpaired entry, the diagonal is 0."""
    model = AutoModelForPairPrediction.from_pretrained(folder)
    assert model.config.pair_min_separation == 0
    segment = "".join(np.random.default_rng(1).choice(list("ACGU"), 40))
    sequence = segment + "AAAA" + segment
    [prediction] = model.predict([sequence])
    copies = np.array([prediction.probabilities[i, i + 44] for i in range(40)])
    assert copies.max() < 0.1 and copies.mean() < 0.02, copies.round(3)
    assert np.all(prediction.probabilities.diagonal() == 0.0)
    assert not {(i, i + 44) for i in range(40)} & set(prediction.pairs)
    noncanonical = [(i, j) for i, j in prediction.pairs if base_pair_type(sequence[i], sequence[j]) == "noncanonical"]
    if model.config.pair_canonical_only and model.config.pair_noncanonical_threshold is None:
        assert not noncanonical
    elif model.config.pair_canonical_only and model.config.pair_noncanonical_placement == "stacked":
        canonical = set(prediction.pairs) - set(noncanonical)  # each non-canonical pair stacks on a canonical one
        assert all({(i - 1, j + 1), (i + 1, j - 1)} & canonical for i, j in noncanonical)


@pytest.mark.parametrize("folder", [SHIPPED, PDB, BACKBONE], ids=lambda folder: folder.name)
def test_released_folders_carry_the_current_model_code(folder):
    """``trust_remote_code`` runs the copies in the folder: they must equal the package's sources."""
    copies = sorted(path.name for path in folder.glob("*.py"))
    assert {"configuration_ssrlm.py", "modeling_ssrlm.py", "tokenization_ssrlm.py"} <= set(copies)
    for name in copies:
        assert (folder / name).read_text() == (PACKAGE_DIR / name).read_text(), f"{folder.name}/{name} is stale"
