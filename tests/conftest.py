"""Shared fixtures: tiny configurations and deterministic seeds; every test runs offline on CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def tiny_config():
    """A 2-layer encoder small enough for exact numerical comparisons in milliseconds."""
    from modeling_ssrlm import SSRLMConfig

    return SSRLMConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


@pytest.fixture
def tokenizer():
    from modeling_ssrlm import SSRLMTokenizer

    return SSRLMTokenizer()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
