"""The shipped default model (``models/ssrlm-8m-ss``) loads offline and predicts through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from transformers import AutoModel, AutoTokenizer

from modeling_ssrlm import AutoModelForPairPrediction, SSRLMForPairPrediction, SSRLMModel, SSRLMTokenizer
from modeling_ssrlm.cli import default_model_dir, main
from modeling_ssrlm.structure import parse_dot_bracket

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = REPO_ROOT / "models" / "ssrlm-8m-ss"


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
