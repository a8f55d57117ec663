"""SSRLMConfig: presets, parameter counts of the paper's sizes, validation and serialisation."""

from __future__ import annotations

import pytest
import torch

from modeling_ssrlm import PRESETS, SSRLMConfig, SSRLMForMaskedLM


@pytest.mark.parametrize(
    ("preset", "expected"), [("ssrlm-8m", 8e6), ("ssrlm-150m", 150e6), ("ssrlm-650m", 650e6)]
)
def test_preset_parameter_counts_match_the_paper(preset, expected):
    config = SSRLMConfig.from_preset(preset)
    with torch.device("meta"):
        model = SSRLMForMaskedLM(config)
    count = sum(parameter.numel() for parameter in model.parameters())
    assert abs(count - expected) / expected <= 0.15, f"{preset}: {count:,} parameters"


def test_preset_shapes_follow_method_table():
    shapes = {name: (p["num_hidden_layers"], p["hidden_size"], p["num_attention_heads"]) for name, p in PRESETS.items()}
    assert shapes == {"ssrlm-8m": (6, 288, 6), "ssrlm-150m": (12, 1056, 12), "ssrlm-650m": (33, 1280, 20)}


def test_preset_overrides_and_defaults():
    config = SSRLMConfig.from_preset("ssrlm-8m", num_key_value_heads=2)
    assert config.num_key_value_heads == 2 and config.head_dim == 48
    assert SSRLMConfig.from_preset("ssrlm-8m").num_key_value_heads == 6


def test_unknown_preset_is_rejected():
    with pytest.raises(ValueError, match="unknown preset 'ssrlm-1b'"):
        SSRLMConfig.from_preset("ssrlm-1b")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_size": 100, "num_attention_heads": 6}, r"hidden_size \(100\) must be divisible by num_attention_heads \(6\)"),
        ({"num_attention_heads": 6, "num_key_value_heads": 4}, r"multiple of num_key_value_heads \(4\)"),
        ({"num_hidden_layers": -1}, "num_hidden_layers must be a non-negative integer"),
        ({"hidden_dropout": 1.0}, r"hidden_dropout must be in \[0, 1\)"),
        ({"hidden_size": 18, "num_attention_heads": 6}, r"head_dim \(3\) must be even"),
    ],
)
def test_invalid_combinations_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SSRLMConfig(**kwargs)


def test_config_round_trip(tmp_path):
    config = SSRLMConfig.from_preset("ssrlm-8m", num_key_value_heads=3, hidden_dropout=0.1)
    config.save_pretrained(tmp_path)
    loaded = SSRLMConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.model_type == "ssrlm"
