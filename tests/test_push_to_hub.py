"""``scripts/push_to_hub.py`` on local folders; the Hub calls are replaced by recorders (no network)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch
from script_loader import load_script
from transformers import AutoModelForMaskedLM, AutoTokenizer

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM, SSRLMModel
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "push_to_hub.py"
push_to_hub = load_script("scripts/push_to_hub.py")

RECIPE = {"task": "mlm", "masking": "ssm", "datasets": ["rfam-14.9-seed"], "steps": 3}


def tiny_config() -> SSRLMConfig:
    return SSRLMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def save_model(model, folder: Path) -> Path:
    model.save_pretrained(folder)
    SSRLMTokenizer().save_pretrained(folder)
    return folder


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A training output folder: model, tokenizer, recipe, plus Trainer leftovers that must not be uploaded."""
    folder = save_model(SSRLMForMaskedLM(tiny_config()), tmp_path / "ssrlm-tiny")
    (folder / "recipe.json").write_text(json.dumps(RECIPE))
    (folder / "checkpoint-3").mkdir()
    (folder / "checkpoint-3" / "optimizer.pt").write_bytes(b"\0")
    (folder / "training_args.bin").write_bytes(b"\0")
    (folder / "runs" / "events").mkdir(parents=True)
    (folder / "runs" / "events" / "events.out.tfevents.1").write_bytes(b"\0")
    return folder


@pytest.fixture
def hub_calls(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """Replace ``HfApi.create_repo`` / ``upload_folder`` with recorders."""
    calls = []

    def record(name, result):
        def method(self, *args, **kwargs):
            calls.append((name, args, kwargs))
            return result
        return method

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", record("create_repo", None))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                        record("upload_folder", SimpleNamespace(commit_url="https://hub.example/commit/1")))
    return calls


def test_dry_run_lists_files_and_writes_card(run_dir, hub_calls, capsys):
    assert push_to_hub.main([str(run_dir), "--repo-id", "user/ssrlm-tiny", "--dry-run"]) == 0
    out = capsys.readouterr().out
    listed = [line.strip() for line in out.split("would upload", 1)[1].splitlines()[1:]]
    assert listed == ["README.md", "config.json", "configuration_ssrlm.py", "model.safetensors", "modeling_ssrlm.py",
                      "recipe.json", "tokenization_ssrlm.py", "tokenizer.json", "tokenizer_config.json"]
    assert "loads: AutoModelForMaskedLM → SSRLMForMaskedLM, 10,912 parameters" in out
    card = (run_dir / "README.md").read_text()
    assert "# user/ssrlm-tiny\n" in card and "| Optimizer steps | 3 |" in card  # recipe.json found in the folder
    assert hub_calls == []


def test_push_calls_hub_with_folder_and_repo_id(run_dir, hub_calls, capsys):
    assert push_to_hub.main([str(run_dir), "--repo-id", "user/ssrlm-tiny", "--private"]) == 0
    assert [name for name, _, _ in hub_calls] == ["create_repo", "upload_folder"]
    (_, create_args, create_kwargs), (_, _, upload_kwargs) = hub_calls
    assert create_args == ("user/ssrlm-tiny",)
    assert create_kwargs == {"repo_type": "model", "private": True, "exist_ok": True}
    assert upload_kwargs["repo_id"] == "user/ssrlm-tiny"
    assert Path(upload_kwargs["folder_path"]) == run_dir
    assert upload_kwargs["ignore_patterns"] == push_to_hub.IGNORE_PATTERNS
    assert "uploaded 9 files: https://hub.example/commit/1" in capsys.readouterr().out


def test_upload_failure_exits_1(run_dir, monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the real client, refused offline
    assert push_to_hub.main([str(run_dir), "--repo-id", "user/ssrlm-tiny"]) == 1
    last_line = capsys.readouterr().err.splitlines()[-1]  # after the weight-loading progress bar
    assert last_line.startswith("error: upload to user/ssrlm-tiny failed: ") and "offline mode is enabled" in last_line


def test_pair_model_folder_checks(tmp_path, hub_calls, capsys):
    folder = save_model(SSRLMForPairPrediction(tiny_config()), tmp_path / "pair")
    assert push_to_hub.main([str(folder), "--repo-id", "user/pair", "--dry-run"]) == 0
    assert "SSRLMForPairPrediction → SSRLMForPairPrediction" in capsys.readouterr().out


def test_save_load_round_trip_offline(run_dir, monkeypatch):
    """The folder push_to_hub validates loads back with the same weights and outputs, offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    original = SSRLMForMaskedLM.from_pretrained(run_dir)
    assert push_to_hub.main([str(run_dir), "--repo-id", "user/ssrlm-tiny", "--dry-run"]) == 0
    reloaded = AutoModelForMaskedLM.from_pretrained(run_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(run_dir, local_files_only=True)
    batch = tokenizer(["GGGGAAACCCC", "ACGU"], padding=True, return_tensors="pt")
    assert batch["input_ids"][1].tolist() == [2, 5, 6, 7, 8, 3, 0, 0, 0, 0, 0, 0, 0]
    for key, tensor in original.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[key]), key
    with torch.no_grad():
        assert torch.equal(original.eval()(**batch).logits, reloaded.eval()(**batch).logits)


def test_missing_weights_exit_2(tmp_path, capsys):
    """An encoder-only folder that claims to be an MLM model lacks the head's weights."""
    folder = save_model(SSRLMModel(tiny_config()), tmp_path / "encoder")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["SSRLMForMaskedLM"]}))
    assert push_to_hub.main([str(folder), "--repo-id", "user/x", "--dry-run"]) == 2
    last_line = capsys.readouterr().err.splitlines()[-1]
    assert last_line.startswith("error: ") and "missing_keys" in last_line and "lm_head.weight" in last_line


def test_bad_repo_id_exit_2(run_dir, capsys):
    assert push_to_hub.main([str(run_dir), "--repo-id", "not a/valid//id", "--dry-run"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_not_a_model_folder_exit_2(tmp_path):
    """As a real process: one error line, exit code 2, no traceback."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), "--repo-id", "user/x", "--dry-run"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path} is not a model folder: it has no config.json\n"
