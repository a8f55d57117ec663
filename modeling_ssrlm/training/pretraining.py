"""Masked-LM pre-training pipeline behind ``train_mlm.py``: corpus → packed rows → masks → Trainer.

Everything here is training glue and is never shipped with a model. See ``train_mlm.py`` for the
command line and the reproducibility and resume guarantees these pieces implement.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import shlex
import shutil
import sys
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc
import torch
import torch.nn.functional as F
from transformers import AutoModelForMaskedLM, TrainerCallback, set_seed
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..configuration_ssrlm import ALL_PRESETS, SSRLMConfig
from ..data.corpus import load_pretraining_corpus, mix_ncrna
from ..data.mlm_collator import MASK_STRATEGY_IDS, MASKING_MODES, DataCollatorForSSM
from ..data.packing import pack_rows
from ..modeling_ssrlm import IGNORE_INDEX, SSRLMForMaskedLM
from ..tokenization_ssrlm import SSRLMTokenizer
from .mlm_trainer import MaskedLMTrainer
from .overrides import parse_config_overrides

logger = logging.getLogger(__name__)

#: Columns of the corpus the collator reads.
FEATURE_COLUMNS = ["sequence", "structure", "is_ncrna"]
TRAIN_SPLIT, VALIDATION_SPLIT = 0, 1


def build_config(model_args: ModelArguments) -> SSRLMConfig:
    """The model configuration from ``--preset`` or ``--config_name``, plus ``--config_overrides``."""
    overrides = parse_config_overrides(model_args.config_overrides)
    if model_args.config_name is None:
        if model_args.preset not in ALL_PRESETS:
            raise ValueError(f"unknown preset {model_args.preset!r}; choose one of {sorted(ALL_PRESETS)}")
        return SSRLMConfig.from_preset(model_args.preset, **overrides)
    values, _ = SSRLMConfig.get_config_dict(model_args.config_name)
    if {"hidden_size", "num_attention_heads"} & overrides.keys() and "head_dim" not in overrides:
        values.pop("head_dim", None)  # derived from the two; recompute it for the new shape
    return SSRLMConfig.from_dict({**values, **overrides})


def split_validation(corpus, fraction: float):
    """``(train, validation)``: a sequence is held out when its CRC-32 falls in the first ``fraction``.

    Depends only on the sequence text, so the split is the same for every seed, shard layout and
    process, and copies of one sequence always land on the same side.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {fraction}")
    threshold = fraction * 2**32
    held_out = np.fromiter(
        (zlib.crc32(sequence.encode()) < threshold for sequence in corpus["sequence"]), dtype=bool, count=len(corpus)
    )
    return corpus.select(np.flatnonzero(~held_out)), corpus.select(np.flatnonzero(held_out))


class PackedRows(torch.utils.data.Dataset):
    """Rows of corpus samples; item ``r`` is ``{"mask_key": [split, epoch, r], "features": [...]}``.

    ``set_epoch`` (called by :class:`EpochCallback` for the training rows) changes the key, so the
    collator draws new masks each epoch; validation rows stay at epoch 0 and keep their masks.
    """

    def __init__(self, corpus, order: np.ndarray, offsets: np.ndarray, split: int) -> None:
        self.corpus = corpus.select_columns(FEATURE_COLUMNS)
        self.order, self.offsets, self.split, self.epoch = order, offsets, split, 0

    @classmethod
    def from_corpus(cls, corpus, pack_to_length: int, max_length: int, split: int) -> "PackedRows":
        """Pack ``corpus`` into rows of ``pack_to_length`` tokens, or one sequence per row when 0."""
        if pack_to_length == 0:
            return cls(corpus, np.arange(len(corpus)), np.arange(len(corpus) + 1), split)
        lengths = np.minimum(pc.utf8_length(corpus.with_format("arrow")["sequence"]).to_numpy() + 2, max_length)
        rows = cls(corpus, *pack_rows(lengths, pack_to_length), split)
        logger.info(
            "packed %d sequences into %d rows of %d tokens (%.1f%% real tokens)",
            len(corpus), len(rows), pack_to_length, 100 * lengths.sum() / max(len(rows) * pack_to_length, 1),
        )
        return rows

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> dict[str, Any]:
        columns = self.corpus[self.order[self.offsets[row] : self.offsets[row + 1]]]
        features = [dict(zip(columns, values)) for values in zip(*columns.values())]
        return {"mask_key": [self.split, self.epoch, int(row)], "features": features}


@dataclass
class RowMaskingCollator:
    """Collate :class:`PackedRows` items: mask each row with its own seeded ``DataCollatorForSSM``.

    Each row is masked (and packed into exactly one row, or padded) by a copy of ``collator`` whose
    seed is derived from ``(seed, *mask_key)``; the rows are then right-padded to a common width.
    """

    collator: DataCollatorForSSM
    seed: int

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows = [self._collate_row(item) for item in items]
        pad_values = {
            "input_ids": self.collator.tokenizer.pad_token_id,
            "labels": IGNORE_INDEX,
            "masking_strategy": MASK_STRATEGY_IDS["unmasked"],
            "attention_mask": 0,
            "position_ids": 0,  # only packed rows have them, and those all have the same width
        }
        width = max(row["input_ids"].shape[1] for row in rows)
        return {
            key: torch.cat([F.pad(row[key], (0, width - row[key].shape[1]), value=pad_values[key]) for row in rows])
            for key in rows[0]
        }

    def _collate_row(self, item: dict[str, Any]) -> dict[str, torch.Tensor]:
        entropy = np.random.SeedSequence([self.seed, *item["mask_key"]])
        row_seed = int(entropy.generate_state(1, dtype=np.uint64)[0])
        batch = dataclasses.replace(self.collator, seed=row_seed)(item["features"])
        if batch["input_ids"].shape[0] != 1:
            raise RuntimeError(f"row {item['mask_key']} did not fit in one packed row")
        return batch


class EpochCallback(TrainerCallback):
    """Tell the training rows the current epoch, so each epoch draws fresh (but reproducible) masks."""

    def __init__(self, rows: PackedRows) -> None:
        self.rows = rows

    def on_epoch_begin(self, args, state, control, **kwargs):
        # `state.epoch` is the float epoch reached; on resume it is restored from the checkpoint.
        self.rows.set_epoch(math.floor(state.epoch or 0))


def check_arguments(data_args: DataArguments, training_args: PretrainingArguments) -> None:
    """Raise ``ValueError`` naming the first inconsistent argument."""
    if data_args.masking not in MASKING_MODES:
        raise ValueError(f"--masking must be one of {MASKING_MODES}, got {data_args.masking!r}")
    if data_args.pack_to_length < 0:
        raise ValueError(f"--pack_to_length must be 0 (no packing) or positive, got {data_args.pack_to_length}")
    if data_args.pack_to_length and data_args.max_length > data_args.pack_to_length:
        raise ValueError(
            f"--max_length ({data_args.max_length}) must not exceed --pack_to_length ({data_args.pack_to_length})"
        )
    if training_args.remove_unused_columns:
        raise ValueError("--remove_unused_columns must be False: the collator reads the raw sequence columns")
    if not os.path.isdir(data_args.dataset_dir):
        raise FileNotFoundError(f"--dataset_dir {data_args.dataset_dir} is not a folder")


def build_datasets(data_args: DataArguments, seed: int) -> tuple[PackedRows, PackedRows | None]:
    """Load the corpus, hold out validation, mix ncRNA and pack both parts into rows."""
    corpus = load_pretraining_corpus(data_args.dataset_dir, cache_dir=data_args.cache_dir)
    train, validation = split_validation(corpus, data_args.validation_fraction)
    if len(train) == 0:
        raise ValueError(f"no training sequences in {data_args.dataset_dir} after holding out validation")
    if len(validation) == 0 and data_args.validation_fraction > 0:
        logger.warning("--validation_fraction %s selected no sequence: no evaluation", data_args.validation_fraction)

    def rows(part, split: int) -> PackedRows:
        mixed = mix_ncrna(part, ncrna_fraction=data_args.ncrna_fraction, seed=seed)
        return PackedRows.from_corpus(mixed, data_args.pack_to_length, data_args.max_length, split)

    return rows(train, TRAIN_SPLIT), rows(validation, VALIDATION_SPLIT) if len(validation) else None


def build_model(model_args: ModelArguments) -> SSRLMForMaskedLM:
    """Fresh weights from the configuration, or the weights of ``--model_name_or_path``."""
    backend = model_args.attn_implementation
    if model_args.model_name_or_path is not None:
        return SSRLMForMaskedLM.from_pretrained(model_args.model_name_or_path, attn_implementation=backend)
    return AutoModelForMaskedLM.from_config(build_config(model_args), attn_implementation=backend)


def build_trainer(
    model_args: ModelArguments, data_args: DataArguments, training_args: PretrainingArguments
) -> MaskedLMTrainer:
    """Everything but the training itself: arguments checked, data packed, model and Trainer built.

    Data randomness (mixture, masks) uses ``--data_seed`` when given, else ``--seed``, like the sampler.
    """
    check_arguments(data_args, training_args)
    logger.info(
        "process %d of %d (%s), device %s",
        training_args.process_index + 1,
        training_args.world_size,
        training_args.distributed_state.distributed_type,
        training_args.device,
    )
    set_seed(training_args.seed)
    data_seed = training_args.seed if training_args.data_seed is None else training_args.data_seed
    with training_args.main_process_first(desc="prepare pre-training data"):
        train_rows, validation_rows = build_datasets(data_args, data_seed)
    tokenizer = SSRLMTokenizer()
    collator = DataCollatorForSSM(
        tokenizer,
        masking=data_args.masking,
        mlm_probability=data_args.mlm_probability,
        span_length=data_args.span_length,
        ssm_probability=data_args.ssm_probability,
        pack_to_length=data_args.pack_to_length or None,
        max_length=data_args.max_length,
    )
    if validation_rows is None and training_args.eval_strategy != "no":
        raise ValueError("--eval_strategy needs a validation split: set --validation_fraction > 0")
    model = build_model(model_args)
    return MaskedLMTrainer(
        model=model,
        args=training_args,
        data_collator=RowMaskingCollator(collator, seed=data_seed),
        train_dataset=train_rows,
        eval_dataset=validation_rows,
        processing_class=tokenizer,
        callbacks=[EpochCallback(train_rows)],
    )


def start_checkpoint(output_dir: str, resume_from_checkpoint: str | None, overwrite_output_dir: bool) -> str | None:
    """The checkpoint a run resumes from, or None to start at step 0, as users of the Trainer expect.

    * ``--resume_from_checkpoint DIR``: that checkpoint; ``last`` or ``true``: the newest complete
      ``checkpoint-N`` in ``output_dir`` (FileNotFoundError when there is none).
    * ``--overwrite_output_dir``, or an ``output_dir`` that is new or empty: step 0.
    * Otherwise the newest complete checkpoint in ``output_dir``: re-running the command of an
      interrupted run resumes it instead of starting over and overwriting its checkpoints.
    * An ``output_dir`` holding files but no checkpoint raises ValueError: nothing to resume, and
      training would write over those files.

    A checkpoint is complete when it holds ``trainer_state.json``, which the Trainer writes last.
    """
    if resume_from_checkpoint is not None and overwrite_output_dir:
        raise ValueError("--overwrite_output_dir starts over at step 0; it cannot be combined with --resume_from_checkpoint")
    if resume_from_checkpoint is not None and resume_from_checkpoint.lower() not in ("last", "true"):
        return resume_from_checkpoint
    checkpoint = last_complete_checkpoint(output_dir)
    if resume_from_checkpoint is not None:
        if checkpoint is None:
            raise FileNotFoundError(f"--resume_from_checkpoint {resume_from_checkpoint}: no complete checkpoint-* folder in {output_dir}")
        return checkpoint
    if overwrite_output_dir or not os.path.isdir(output_dir) or not os.listdir(output_dir):
        return None
    if checkpoint is None:
        raise ValueError(
            f"--output_dir {output_dir} is not empty and holds no checkpoint to resume from: "
            "pass --overwrite_output_dir to train over it, or choose another folder"
        )
    logger.warning("resuming from %s (pass --overwrite_output_dir to start over)", checkpoint)
    return checkpoint


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The ``checkpoint-N`` folder with the highest N that holds ``trainer_state.json``, or None.

    A run killed while saving leaves a checkpoint without it; resuming from that one would fail.
    """
    if not os.path.isdir(output_dir):
        return None
    steps = {}
    for name in os.listdir(output_dir):
        match = re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)", name)
        if match and os.path.isfile(os.path.join(output_dir, name, TRAINER_STATE_NAME)):
            steps[int(match.group(1))] = os.path.join(output_dir, name)
    return steps[max(steps)] if steps else None


def remove_checkpoints(output_dir: str) -> None:
    """Delete the ``checkpoint-*`` folders of an earlier run (``--overwrite_output_dir``).

    Left in place, a later ``--resume_from_checkpoint last`` could pick one of them up, and
    ``--save_total_limit`` would count them. Other files are left alone (the new run rewrites them).
    """
    if not os.path.isdir(output_dir):
        return
    for name in os.listdir(output_dir):
        path = os.path.join(output_dir, name)
        if re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-\d+", name) and os.path.isdir(path):
            logger.warning("--overwrite_output_dir: removing %s of an earlier run", path)
            shutil.rmtree(path)


def write_summary(
    trainer: MaskedLMTrainer,
    model_args: ModelArguments,
    data_args: DataArguments,
    train_metrics: dict[str, float],
    eval_metrics: dict[str, float] | None,
    argv: list[str] | None,
) -> None:
    """Write ``pretraining_summary.json`` to the output folder (main process only)."""
    args = trainer.args
    rows_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
    summary = {
        "model": dataclasses.asdict(model_args),
        "data": dataclasses.asdict(data_args),
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        "processes": args.world_size,
        "device": args.device.type,
        "global_steps": trainer.state.global_step,
        "rows_per_step": rows_per_step,
        # packed rows have a fixed length; unpacked batches are padded to their longest sequence
        "token_slots": trainer.state.global_step * rows_per_step * data_args.pack_to_length or None,
        "train_metrics": train_metrics,
        "eval_metrics": eval_metrics,
        "command": shlex.join(["python", "train_mlm.py", *(sys.argv[1:] if argv is None else argv)]),
    }
    path = os.path.join(args.output_dir, "pretraining_summary.json")
    with open(path, "w") as handle:
        json.dump(summary, handle, indent=2)
        handle.write("\n")
