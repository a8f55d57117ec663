"""Tests of MLM pre-training: ``train_mlm.py`` and :mod:`modeling_ssrlm.training.mlm_trainer`.

A tiny corpus (48 random sequences, half of them ncRNA folded by ViennaRNA) is built once with
``data_scripts/prepare_pretraining.py``; the runs use a 2-layer, 32-wide encoder on CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from script_loader import load_script
from transformers import AutoModelForMaskedLM, AutoTokenizer, TrainerCallback

import modeling_ssrlm  # noqa: F401  (registers the Auto classes)
from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.data.mlm_collator import DataCollatorForSSM
from modeling_ssrlm.training.mlm_trainer import MaskedLMStatistics, MaskedLMTrainer
from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer
from modeling_ssrlm.data.packing import pack_rows
from modeling_ssrlm.training.overrides import parse_config_overrides
from modeling_ssrlm.training.pretraining import (
    TRAIN_SPLIT,
    PackedRows,
    RowMaskingCollator,
    build_config,
    build_trainer,
    split_validation,
    start_checkpoint,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_MODEL = "hidden_size=32,num_hidden_layers=2,num_attention_heads=2,intermediate_size=64"
ROW_LENGTH = 128


train_mlm = load_script("train_mlm.py")
prepare_pretraining = load_script("data_scripts/prepare_pretraining.py")


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the tiny model is much faster without thread contention on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """48 sequences of 20–89 nt (24 ncRNA, 24 other) prepared into parquet shards."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for name, prefix, alphabet in (("ncrna.fa", "nc", "ACGU"), ("other.fa", "cds", "ACGT")):
        records = [f">{prefix}{i}\n{''.join(rng.choice(list(alphabet), rng.integers(20, 90)))}\n" for i in range(24)]
        (root / name).write_text("".join(records))
    out = root / "prepared"
    argv = ["--ncrna", str(root / "ncrna.fa"), "--other", str(root / "other.fa"), "--out", str(out)]
    assert prepare_pretraining.main([*argv, "--shard-size", "16"]) == 0
    # The shard folder: `load_pretraining_corpus(out)` would also read `out/plan.parquet` (other columns).
    return out / "train"


def _argv(corpus: Path, output_dir: Path, *extra: str, batch_size: int = 2) -> list[str]:
    return [
        "--dataset_dir", str(corpus),
        "--cache_dir", str(output_dir.parent / "datasets_cache"),
        "--config_overrides", TINY_MODEL,
        "--pack_to_length", str(ROW_LENGTH),
        "--max_length", str(ROW_LENGTH),
        "--output_dir", str(output_dir),
        "--per_device_train_batch_size", str(batch_size),
        "--logging_steps", "1",
        "--report_to", "none",
        "--disable_tqdm", "true",
        "--seed", "0",
        "--validation_fraction", "0",
        *extra,
    ]  # fmt: skip


def _training_logs(trainer) -> list[dict]:
    return [entry for entry in trainer.state.log_history if "loss" in entry]


# --- pieces -------------------------------------------------------------------------------------


def test_pack_rows_best_fit_decreasing_by_hand():
    # Decreasing: 6 (#4) opens row 0 (2 left), 5 (#0) opens row 1 (3 left), 4 (#2) opens row 2,
    # 3 (#1) best fits row 1 (0 left), 2 (#3) best fits row 0 (0 left).
    order, offsets = pack_rows(np.array([5, 3, 4, 2, 6]), row_length=8)
    assert offsets.tolist() == [0, 2, 4, 5]
    assert order.tolist() == [3, 4, 0, 1, 2]


def test_pack_rows_rejects_samples_longer_than_a_row():
    with pytest.raises(ValueError, match="between 1 and 8 tokens"):
        pack_rows(np.array([3, 9]), row_length=8)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 16), min_size=1, max_size=60))
def test_pack_rows_is_a_tight_partition(lengths):
    lengths = np.array(lengths)
    order, offsets = pack_rows(lengths, row_length=16)
    assert sorted(order.tolist()) == list(range(len(lengths)))
    totals = np.add.reduceat(lengths[order], offsets[:-1])
    assert totals.max() <= 16
    # Any-fit packing leaves at most one row half empty or worse, so rows ≤ 2·tokens/16 + 1.
    assert (totals <= 8).sum() <= 1
    assert len(totals) <= 2 * lengths.sum() / 16 + 1


def test_parse_overrides():
    overrides = parse_config_overrides("hidden_size=32, hidden_act=gelu,attention_dropout=0.1,attention_bias=true")
    assert overrides == {
        "hidden_size": 32,
        "hidden_act": "gelu",
        "attention_dropout": 0.1,
        "attention_bias": True,
    }
    assert parse_config_overrides(None) == {}
    with pytest.raises(ValueError, match="'hidden_size' is not of the form name=value"):
        parse_config_overrides("hidden_size")


def test_build_config_from_file_recomputes_head_dim(tmp_path):
    saved = SSRLMConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    saved.save_pretrained(tmp_path)
    model_args = train_mlm.ModelArguments(config_name=str(tmp_path), config_overrides="hidden_size=32")
    config = build_config(model_args)
    assert (config.hidden_size, config.num_attention_heads, config.head_dim, config.num_hidden_layers) == (32, 4, 8, 2)
    preset = build_config(train_mlm.ModelArguments(preset="ssrlm-8m", config_overrides="num_hidden_layers=1"))
    assert (preset.hidden_size, preset.num_hidden_layers) == (288, 1)


def test_split_validation_is_deterministic_and_keeps_copies_together():
    rng = np.random.default_rng(1)
    sequences = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(400)]
    corpus = datasets.Dataset.from_dict({"sequence": sequences + sequences[:50]})
    train, validation = split_validation(corpus, 0.25)
    assert 60 < len(validation) < 140 and len(train) + len(validation) == 450
    assert not set(train["sequence"]) & set(validation["sequence"])
    again_train, _ = split_validation(corpus, 0.25)
    assert again_train["sequence"] == train["sequence"]
    assert len(split_validation(corpus, 0.0)[1]) == 0


def _rows(pack_to_length: int) -> PackedRows:
    corpus = datasets.Dataset.from_dict(
        {
            "sequence": ["ACGTACGTAC", "GGGAAACCC", "ACGTTT", "GGGGAAAACCCCAA"],
            "structure": ["", "(((...)))", "", "((((....)))).."],
            "is_ncrna": [False, True, False, True],
        }
    )
    return PackedRows.from_corpus(corpus, pack_to_length, max_length=16, split=TRAIN_SPLIT)


def test_row_collator_masks_reproducibly_per_row_and_epoch():
    masking = DataCollatorForSSM(SSRLMTokenizer(), pack_to_length=32, max_length=16)
    collator = RowMaskingCollator(masking, seed=3)
    rows = _rows(pack_to_length=32)  # 12 + 11 + 8 + 16 tokens → rows [16 + 12], [11 + 8]
    assert len(rows) == 2
    batch = collator([rows[0], rows[1]])
    assert set(batch) == {"input_ids", "labels", "masking_strategy", "position_ids"}
    assert batch["input_ids"].shape == (2, 32)
    assert (batch["input_ids"] != 0).sum(dim=1).tolist() == [28, 19]
    again = collator([rows[0], rows[1]])
    assert all(torch.equal(batch[key], again[key]) for key in batch)
    # A row's masks depend on the row, not on its batch-mates or position in the batch.
    assert torch.equal(collator([rows[1]])["labels"][0], batch["labels"][1])
    rows.set_epoch(1)
    next_epoch = collator([rows[0], rows[1]])
    assert not torch.equal(next_epoch["labels"], batch["labels"])
    unmasked = next_epoch["labels"].eq(-100) & batch["labels"].eq(-100)
    assert torch.equal(next_epoch["input_ids"][unmasked], batch["input_ids"][unmasked])


def test_row_collator_without_packing_pads_rows_to_the_longest():
    collator = RowMaskingCollator(DataCollatorForSSM(SSRLMTokenizer(), max_length=16), seed=0)
    rows = _rows(pack_to_length=0)
    batch = collator([rows[0], rows[2]])
    assert batch["input_ids"].shape == (2, 12)
    assert batch["attention_mask"].sum(dim=1).tolist() == [12, 8]
    assert batch["input_ids"][1, 8:].tolist() == [0, 0, 0, 0] and batch["labels"][1, 8:].eq(-100).all()


def test_masked_lm_statistics_by_hand():
    statistics = MaskedLMStatistics()
    accelerator = SimpleNamespace(reduce=lambda tensor, reduction: tensor, device=torch.device("cpu"))
    fake_trainer = SimpleNamespace(accelerator=accelerator)
    logits = torch.zeros(1, 6, 9)
    logits[0, torch.arange(6), torch.tensor([2, 5, 8, 7, 8, 0])] = 1.0  # predictions
    labels = torch.tensor([[-100, 5, 6, 7, 8, -100]])  # right: positions 1, 3, 4
    strategy = torch.tensor([[0, 1, 1, 2, 3, 0]])  # SM at 1-2, SSM at 3, MLM at 4
    real = torch.tensor([[True, True, True, True, True, False]])
    statistics.update(logits, labels, strategy, real)
    statistics.update(logits[:, :3], torch.tensor([[-100, 6, -100]]), torch.tensor([[0, 1, 0]]), real[:, :3])
    metrics = statistics.summarize(fake_trainer, prefix="eval_")
    assert metrics == pytest.approx(
        {
            "eval_masked_accuracy": 3 / 5,
            "eval_masked_accuracy_sm": 1 / 3,
            "eval_masked_accuracy_ssm": 1.0,
            "eval_masked_accuracy_mlm": 1.0,
            "eval_masked_fraction": 5 / 8,
            "eval_real_token_fraction": 8 / 9,
            "eval_real_tokens": 8,
        }
    )
    assert statistics.summarize(fake_trainer) == {}  # reset after reading


def test_bad_arguments_exit_with_code_2(corpus, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        train_mlm.main(_argv(corpus, tmp_path / "run", "--masking", "bert"))
    assert raised.value.code == 2
    assert "train_mlm.py: error: --masking must be one of ('ssm', 'sm', 'mlm'), got 'bert'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        train_mlm.main(_argv(corpus, tmp_path / "run", "--pack_to_length", "64"))
    assert raised.value.code == 2
    assert "--max_length (128) must not exceed --pack_to_length (64)" in capsys.readouterr().err


# --- training runs ------------------------------------------------------------------------------


def test_pretraining_end_to_end(corpus, tmp_path):
    output_dir = tmp_path / "run"
    extra = ["--max_steps", "20", "--learning_rate", "1e-2", "--save_strategy", "no"]
    extra += ["--validation_fraction", "0.2", "--eval_strategy", "steps", "--eval_steps", "20"]
    trainer = train_mlm.main(_argv(corpus, output_dir, *extra))

    logs = _training_logs(trainer)
    assert [entry["step"] for entry in logs] == list(range(1, 21))
    losses = [entry["loss"] for entry in logs]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2, losses
    for entry in logs:
        assert 0.12 < entry["masked_fraction"] < 0.25, entry
        assert 0.3 < entry["real_token_fraction"] <= 1.0 and entry["tokens_per_second"] > 0, entry
    logged = set().union(*logs)
    assert {"masked_accuracy", "masked_accuracy_sm", "masked_accuracy_ssm"} <= logged
    assert "masked_accuracy_mlm" not in logged  # --masking ssm never masks token-wise
    evaluation = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    assert evaluation and 0.0 <= evaluation[-1]["eval_masked_accuracy"] <= 1.0

    reloaded = AutoModelForMaskedLM.from_pretrained(output_dir)
    assert isinstance(reloaded, SSRLMForMaskedLM) and reloaded.config.hidden_size == 32
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name
    assert AutoTokenizer.from_pretrained(output_dir)("ACGU")["input_ids"] == [2, 5, 6, 7, 8, 3]

    summary = json.loads((output_dir / "pretraining_summary.json").read_text())
    assert summary["data"]["masking"] == "ssm" and summary["model"]["config_overrides"] == TINY_MODEL
    assert (summary["global_steps"], summary["rows_per_step"]) == (20, 2)
    assert summary["token_slots"] == 20 * 2 * ROW_LENGTH
    assert summary["learning_rate"] == 1e-2 and summary["precision"] == "fp32"
    assert summary["eval_metrics"]["eval_loss"] == evaluation[-1]["eval_loss"]
    assert summary["command"].startswith("python train_mlm.py --dataset_dir ")


def _digest(batch: dict[str, torch.Tensor]) -> str:
    keys = ("input_ids", "labels", "position_ids")
    return hashlib.sha1(b"".join(batch[key].numpy().tobytes() for key in keys)).hexdigest()


@pytest.fixture
def recorded_batches(monkeypatch) -> list[tuple[int, str]]:
    """Every training batch as ``(global step before the update, digest of its tensors)``."""
    recorded = []
    training_step = MaskedLMTrainer.training_step

    def recording_step(self, model, inputs, num_items_in_batch=None):
        recorded.append((self.state.global_step, _digest(inputs)))
        return training_step(self, model, inputs, num_items_in_batch)

    monkeypatch.setattr(MaskedLMTrainer, "training_step", recording_step)
    return recorded


class _StopAt(TrainerCallback):
    """Simulate an interruption right after the checkpoint of step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= self.step


def test_resume_continues_with_the_same_batches(corpus, tmp_path, recorded_batches):
    # 27 rows, 4 per step: 7 steps per epoch; the run is cut at step 9 (epoch 1) and ends at 18 (epoch 2).
    half, full = 9, 18
    argv = _argv(corpus, tmp_path / "resumed", "--max_steps", str(full), "--save_steps", str(half), batch_size=4)
    interrupted = build_trainer(*train_mlm.parse_args(argv))
    interrupted.add_callback(_StopAt(half))
    interrupted.train()
    assert interrupted.state.global_step == half and (tmp_path / "resumed" / f"checkpoint-{half}").is_dir()
    assert interrupted.train_dataset.epoch == 1  # set by EpochCallback
    first_part = list(recorded_batches)
    recorded_batches.clear()

    resumed = train_mlm.main(argv)  # the same command again: it resumes from checkpoint-9
    second_part = list(recorded_batches)
    recorded_batches.clear()

    uninterrupted = train_mlm.main(_argv(corpus, tmp_path / "straight", "--max_steps", str(full),
                                         "--save_strategy", "no", batch_size=4))  # fmt: skip
    reference = list(recorded_batches)

    assert [step for step, _ in reference] == list(range(full))
    assert first_part == reference[:half]
    assert [step for step, _ in second_part] == list(range(half, full)), "the global step must continue"
    assert second_part == reference[half:], "the batches after resuming must equal the uninterrupted run's"
    assert resumed.state.global_step == full and resumed.train_dataset.epoch == 2
    for name, tensor in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, msg=name)


def test_gradient_accumulation_matches_one_large_batch(corpus, tmp_path):
    """4 rows in one micro-batch and 2 × 2 accumulated give the same loss and gradient norm."""
    extra = ("--max_steps", "1", "--save_strategy", "no")
    large = train_mlm.main(_argv(corpus, tmp_path / "large", *extra, batch_size=4))
    accumulated = train_mlm.main(_argv(corpus, tmp_path / "accumulated", *extra, "--gradient_accumulation_steps", "2"))
    large_log, accumulated_log = _training_logs(large)[0], _training_logs(accumulated)[0]
    for key in ("loss", "grad_norm", "masked_accuracy", "masked_fraction", "real_token_fraction"):
        assert accumulated_log[key] == pytest.approx(large_log[key], rel=1e-5), key


@pytest.mark.slow
def test_accelerate_deepspeed_zero2_on_two_cpu_processes(corpus, tmp_path):
    """The real multi-process path: ``accelerate launch`` + DeepSpeed ZeRO-2, 2 CPU processes (gloo).

    The first run on a machine compiles DeepSpeed's CPU Adam and shared-memory ops (minutes).
    """
    output_dir = tmp_path / "deepspeed"
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO_ROOT / "configs" / "accelerate" / "cpu_deepspeed_zero2_2proc.yaml"),
        str(REPO_ROOT / "train_mlm.py"), "--ddp_backend", "gloo",
        *_argv(corpus, output_dir, "--max_steps", "3", "--save_strategy", "no"),
    ]  # fmt: skip
    environment = {
        **os.environ,
        "DS_ACCELERATOR": "cpu",
        "DS_BUILD_OPS": "0",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    try:
        result = subprocess.run(
            command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=900
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"accelerate launch timed out after 900 s; output:\n{error.stdout}\n{error.stderr}")
    output = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode == 0, f"accelerate launch failed with exit code {result.returncode}\n{output}"
    assert "process 1 of 2 (DistributedType.DEEPSPEED)" in output, output  # logged by the main process
    assert "Total train batch size (w. parallel, distributed & accumulation) = 4" in output, output
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3], output
    summary = json.loads((output_dir / "pretraining_summary.json").read_text())
    assert (summary["processes"], summary["rows_per_step"], summary["token_slots"]) == (2, 4, 3 * 4 * ROW_LENGTH)
    assert isinstance(AutoModelForMaskedLM.from_pretrained(output_dir), SSRLMForMaskedLM)


# --- where a run starts -------------------------------------------------------------------------


def _checkpoint(output_dir: Path, step: int, complete: bool = True) -> Path:
    folder = output_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if complete:
        (folder / "trainer_state.json").write_text("{}")
    return folder


def test_start_checkpoint_resumes_the_newest_complete_checkpoint(tmp_path):
    _checkpoint(tmp_path, 5)
    newest = _checkpoint(tmp_path, 10)
    _checkpoint(tmp_path, 12, complete=False)  # killed while saving
    for resume in (None, "last", "true"):
        assert start_checkpoint(str(tmp_path), resume, overwrite_output_dir=False) == str(newest)
    assert start_checkpoint(str(tmp_path), "some/checkpoint-3", overwrite_output_dir=False) == "some/checkpoint-3"
    assert start_checkpoint(str(tmp_path), None, overwrite_output_dir=True) is None


def test_start_checkpoint_starts_fresh_only_in_a_new_or_empty_folder(tmp_path):
    assert start_checkpoint(str(tmp_path / "new"), None, overwrite_output_dir=False) is None
    assert start_checkpoint(str(tmp_path), None, overwrite_output_dir=False) is None
    (tmp_path / "runs").mkdir()  # e.g. the logs of a run killed before its first checkpoint
    with pytest.raises(ValueError, match="is not empty and holds no checkpoint to resume from: pass --overwrite_output_dir"):
        start_checkpoint(str(tmp_path), None, overwrite_output_dir=False)
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        start_checkpoint(str(tmp_path), "last", overwrite_output_dir=False)
    with pytest.raises(ValueError, match="cannot be combined with --resume_from_checkpoint"):
        start_checkpoint(str(tmp_path), "last", overwrite_output_dir=True)


def test_a_non_empty_output_dir_without_checkpoint_is_refused(corpus, tmp_path, capsys):
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    (output_dir / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        train_mlm.main(_argv(corpus, output_dir, "--max_steps", "1"))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().startswith(f"train_mlm.py: error: --output_dir {output_dir} is not empty")


def test_overwrite_output_dir_starts_over_and_removes_old_checkpoints(corpus, tmp_path):
    output_dir = tmp_path / "run"
    _checkpoint(output_dir, 7)
    trainer = train_mlm.main(_argv(corpus, output_dir, "--max_steps", "1", "--save_strategy", "no", "--overwrite_output_dir"))
    assert trainer.state.global_step == 1
    assert not (output_dir / "checkpoint-7").exists() and (output_dir / "model.safetensors").is_file()
