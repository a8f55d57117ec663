"""Checkpoints: Auto-class round trips offline, trust_remote_code without the package, clear load errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer, BertConfig

from modeling_ssrlm import SSRLMForMaskedLM, SSRLMModel, SSRLMTokenizer

SEQUENCES = ["ACGUAGCUAGC", "GGGAAACCCU"]


@pytest.fixture
def saved_mlm(tmp_path, tiny_config, tokenizer):
    model = SSRLMForMaskedLM(tiny_config).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with torch.no_grad():
        logits = model(**tokenizer(SEQUENCES, padding=True, return_tensors="pt")).logits
    return tmp_path, logits


def test_folder_layout_is_hub_style(saved_mlm):
    folder, _ = saved_mlm
    names = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert {"configuration_ssrlm.py", "modeling_ssrlm.py", "tokenization_ssrlm.py"} <= names
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_ssrlm.SSRLMConfig",
        "AutoModel": "modeling_ssrlm.SSRLMModel",
        "AutoModelForMaskedLM": "modeling_ssrlm.SSRLMForMaskedLM",
    }


def test_auto_classes_round_trip_offline(saved_mlm, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder, logits = saved_mlm
    assert AutoConfig.from_pretrained(folder).model_type == "ssrlm"
    model = AutoModelForMaskedLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert isinstance(model, SSRLMForMaskedLM) and isinstance(tokenizer, SSRLMTokenizer)
    with torch.no_grad():
        reloaded = model(**tokenizer(SEQUENCES, padding=True, return_tensors="pt")).logits
    assert torch.equal(reloaded, logits)
    assert isinstance(AutoModel.from_pretrained(folder), SSRLMModel)


def test_trust_remote_code_loads_where_the_package_is_not_installed(saved_mlm, tmp_path):
    folder, logits = saved_mlm
    torch.save(logits, tmp_path / "expected.pt")
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["modeling_ssrlm"] = None  # any import of the installed package now fails
        import torch
        from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
        model = AutoModelForMaskedLM.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained({str(folder)!r}, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            logits = model(**tokenizer({SEQUENCES!r}, padding=True, return_tensors="pt")).logits
        assert torch.equal(logits, torch.load({str(tmp_path / "expected.pt")!r})), "outputs differ after reload"
        encoder = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)
        assert type(encoder).__name__ == "SSRLMModel"
        print("remote-code-ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "hf_home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "remote-code-ok" in result.stdout, result.stdout + result.stderr


def test_truncated_weights_give_a_clear_error(saved_mlm):
    folder, _ = saved_mlm
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(OSError, match="truncated or corrupt"):
        AutoModelForMaskedLM.from_pretrained(folder)


def test_checkpoint_of_another_model_type_is_rejected(tmp_path):
    BertConfig().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="holds a 'bert' checkpoint, not an 'ssrlm' one"):
        SSRLMForMaskedLM.from_pretrained(tmp_path)


def test_mlm_encoder_weights_load_into_the_bare_encoder(saved_mlm, tokenizer):
    folder, _ = saved_mlm
    encoder = SSRLMModel.from_pretrained(folder).eval()
    mlm = SSRLMForMaskedLM.from_pretrained(folder).eval()
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(encoder(**batch).last_hidden_state, mlm.model(**batch).last_hidden_state)


def test_pair_model_folders_load_with_remote_code(tmp_path, tiny_config, tokenizer):
    """A pair-head folder loads without the package: its encoder through ``AutoModel`` and the whole
    model through the class its ``auto_map`` names (transformers has no Auto class for L × L maps)."""
    from modeling_ssrlm import SSRLMForPairPrediction

    model = SSRLMForPairPrediction(tiny_config).eval()
    model.config.auto_map = {"AutoModelForMaskedLM": "modeling_ssrlm.SSRLMForMaskedLM"}  # inherited, stale
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"] == {
        "AutoConfig": "configuration_ssrlm.SSRLMConfig",
        "AutoModel": "modeling_ssrlm.SSRLMModel",
        "AutoModelForPairPrediction": "modeling_ssrlm_pair.SSRLMForPairPrediction",
    }
    with torch.no_grad():
        expected = model.model(**tokenizer(SEQUENCES, padding=True, return_tensors="pt")).last_hidden_state
    torch.save(expected, tmp_path / "expected.pt")
    torch.save(torch.from_numpy(model.predict(SEQUENCES[:1])[0].probabilities), tmp_path / "probabilities.pt")
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["modeling_ssrlm"] = None
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.dynamic_module_utils import get_class_from_dynamic_module
        encoder = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
        with torch.no_grad():
            hidden = encoder(**tokenizer({SEQUENCES!r}, padding=True, return_tensors="pt")).last_hidden_state
        assert torch.equal(hidden, torch.load({str(tmp_path / "expected.pt")!r}))
        model_class = get_class_from_dynamic_module("modeling_ssrlm_pair.SSRLMForPairPrediction", {str(tmp_path)!r})
        assert model_class.__module__.startswith("transformers_modules"), model_class.__module__
        model = model_class.from_pretrained({str(tmp_path)!r}).eval()
        probabilities = torch.from_numpy(model.predict({SEQUENCES[:1]!r})[0].probabilities)
        difference = (probabilities - torch.load({str(tmp_path / "probabilities.pt")!r})).abs().max().item()
        assert difference < 1e-6, difference
        print("encoder-ok pair-ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "hf_home")},
    )
    assert "encoder-ok pair-ok" in result.stdout, result.stdout + result.stderr
