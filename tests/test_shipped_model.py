"""The released folders load offline: the default pair model (``models/ssrlm-8m-ss``, also through the
CLI) and the pre-trained backbone it was fine-tuned from (``models/ssrlm-8m``)."""

from __future__ import annotations

import json
from pathlib import Path

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
from modeling_ssrlm.secondary_structure import parse_dot_bracket

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = REPO_ROOT / "models" / "ssrlm-8m-ss"
BACKBONE = REPO_ROOT / "models" / "ssrlm-8m"
PACKAGE_DIR = Path(modeling_ssrlm.__file__).parent


def test_cli_default_is_the_shipped_folder(monkeypatch):
    monkeypatch.delenv("SSRLM_MODEL", raising=False)
    assert default_model_dir() == SHIPPED


def test_folder_is_hub_style_with_a_generated_card():
    names = {path.name for path in SHIPPED.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
    front_matter = yaml.safe_load((SHIPPED / "README.md").read_text().split("---")[1])
    assert front_matter["library_name"] == "transformers"
    assert {"pipeline_tag", "tags", "license"} <= set(front_matter)
    config = json.loads((SHIPPED / "config.json").read_text())
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


def test_backbone_is_the_base_of_the_shipped_pair_model():
    assert json.loads((SHIPPED / "recipe.json").read_text())["pre_training"]["folder"] == json.loads(
        (BACKBONE / "recipe.json").read_text()
    )["folder"]


@pytest.mark.parametrize("folder", [SHIPPED, BACKBONE], ids=lambda folder: folder.name)
def test_released_folders_carry_the_current_model_code(folder):
    """``trust_remote_code`` runs the copies in the folder: they must equal the package's sources."""
    copies = sorted(path.name for path in folder.glob("*.py"))
    assert {"configuration_ssrlm.py", "modeling_ssrlm.py", "tokenization_ssrlm.py"} <= set(copies)
    for name in copies:
        assert (folder / name).read_text() == (PACKAGE_DIR / name).read_text(), f"{folder.name}/{name} is stale"
