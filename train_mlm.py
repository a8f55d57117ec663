#!/usr/bin/env python
"""Pre-train an SSR-LM encoder with masked language modelling (SSM, SM or plain MLM masking).

Runs unchanged on one CPU, one GPU, DDP or DeepSpeed::

    python train_mlm.py --dataset_dir runs/corpus --preset ssrlm-8m --output_dir runs/pretrain_8m
    accelerate launch --config_file configs/accelerate/deepspeed_zero2.yaml train_mlm.py --bf16 ...

Data (METHOD.md §2–§3): ``--dataset_dir`` is a folder written by ``data_scripts/prepare_pretraining.py``.
A deterministic slice of it (``--validation_fraction``, chosen by a hash of each *sequence*, so that
identical sequences never straddle the split) is held out for evaluation; both parts are mixed to
``--ncrna_fraction`` ncRNA. With ``--pack_to_length L`` (default 1024) the sequences are packed
once, before training, into rows of at most ``L`` tokens (best-fit decreasing); one dataset item is
one row, so ``per_device_train_batch_size`` counts *rows* and a step trains on
``rows × L`` token slots. ``--pack_to_length 0`` gives one sequence per row, padded per batch.
Masking happens in the collator, at every use of a row.

Reproducibility and resuming: with the same arguments a run is deterministic on CPU, and
``--resume_from_checkpoint`` continues a run exactly where the checkpoint left it:

* the row order of each epoch comes from the Trainer's sampler, seeded by ``--seed`` (or
  ``--data_seed``) and the epoch, and the Trainer skips the rows already trained on when it resumes;
* the masks of a row are drawn from a generator seeded by ``(seed, split, epoch, row)`` only, not
  by a stream that would have to be replayed, so skipped batches need not be collated and the
  masks after resuming equal those of an uninterrupted run (a new epoch draws new masks; the
  validation rows keep the same masks for the whole run);
* model, optimizer, scheduler and RNG states come from the checkpoint (Trainer).

This holds with ``--dataloader_num_workers 0`` (the default). With workers, row order is still
reproduced, but :class:`~modeling_ssrlm.data_collator.DataCollatorForSSM` mixes the worker's
per-epoch torch seed into its generator, so the masks after a resume differ from an uninterrupted
run (they stay valid samples of the same masking distribution).

The final model and tokenizer are written with ``save_pretrained`` to ``--output_dir``, so
``AutoModelForMaskedLM.from_pretrained(output_dir)`` loads them (after ``import modeling_ssrlm``, or
with ``trust_remote_code=True``), with ``pretraining_summary.json`` beside them: the arguments, the
budget (steps, token slots) and the final metrics, the record that model cards are generated from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shlex
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.compute as pc
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModelForMaskedLM, HfArgumentParser, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint

from modeling_ssrlm.configuration_ssrlm import PRESETS, SSRLMConfig
from modeling_ssrlm.data_collator import IGNORE_INDEX, MASK_STRATEGY_IDS, MASKING_MODES, DataCollatorForSSM
from modeling_ssrlm.mlm_trainer import MaskedLMTrainer
from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM
from modeling_ssrlm.pretraining_data import load_pretraining_corpus, mix_ncrna
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer

logger = logging.getLogger(__name__)

#: Columns of the corpus the collator reads.
FEATURE_COLUMNS = ["sequence", "structure", "is_ncrna"]
TRAIN_SPLIT, VALIDATION_SPLIT = 0, 1


@dataclass
class ModelArguments:
    """Which encoder to pre-train."""

    preset: str | None = field(
        default="ssrlm-8m", metadata={"help": f"Size preset, one of {sorted(PRESETS)} (ignored with --config_name)."}
    )
    config_name: str | None = field(
        default=None, metadata={"help": "A config.json file, or a folder holding one, instead of --preset."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated key=value settings applied on top of the preset or config file, values "
            "parsed as JSON, e.g. 'hidden_size=64,num_hidden_layers=2,num_attention_heads=2'."
        },
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Continue pre-training from these weights (config and model folder)."}
    )
    attn_implementation: str = field(
        default="sdpa",
        metadata={"help": "Attention backend: sdpa, eager, or flash_attention_2 (GPU; skips padding in packed rows)."},
    )


@dataclass
class DataArguments:
    """Corpus, mixture, masking and packing."""

    dataset_dir: str = field(metadata={"help": "A folder written by data_scripts/prepare_pretraining.py."})
    masking: str = field(
        default="ssm",
        metadata={"help": "ssm: the paper's SSM/SM mixture; sm: span masking only; mlm: plain token masking."},
    )
    ncrna_fraction: float = field(default=0.5, metadata={"help": "Fraction of ncRNA sequences in the mixture."})
    ssm_probability: float = field(default=0.5, metadata={"help": "P(SSM) for an ncRNA with a structure."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of nucleotides masked."})
    span_length: int = field(default=3, metadata={"help": "Length of SM spans."})
    pack_to_length: int = field(
        default=1024, metadata={"help": "Tokens per packed row; 0 disables packing (one padded sequence per row)."}
    )
    max_length: int = field(
        default=1024,
        metadata={"help": "Longest sample in tokens; longer sequences are randomly cropped (≤ pack_to_length)."},
    )
    validation_fraction: float = field(
        default=0.001, metadata={"help": "Fraction of sequences held out for evaluation (0 disables)."}
    )
    cache_dir: str | None = field(
        default=None, metadata={"help": "Where the corpus is converted to Arrow (default: the datasets cache)."}
    )


@dataclass
class PretrainingArguments(TrainingArguments):
    """``TrainingArguments`` with the paper's optimiser settings and this script's needs as defaults."""

    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate (paper: 1e-4)."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (paper: 0.01)."})
    report_to: None | str | list[str] = field(
        default="tensorboard", metadata={"help": "Integrations to log to ('none' to disable)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator needs the raw sequence columns."}
    )
    prediction_loss_only: bool = field(
        default=True, metadata={"help": "Evaluate loss and masked accuracy only (no logits gathered)."}
    )
    logging_steps: float = field(default=50, metadata={"help": "Log every N optimizer steps."})


def build_config(model_args: ModelArguments) -> SSRLMConfig:
    """The model configuration from ``--preset`` or ``--config_name``, plus ``--config_overrides``."""
    overrides = parse_overrides(model_args.config_overrides)
    if model_args.config_name is None:
        if model_args.preset not in PRESETS:
            raise ValueError(f"unknown preset {model_args.preset!r}; choose one of {sorted(PRESETS)}")
        return SSRLMConfig.from_preset(model_args.preset, **overrides)
    values, _ = SSRLMConfig.get_config_dict(model_args.config_name)
    if {"hidden_size", "num_attention_heads"} & overrides.keys() and "head_dim" not in overrides:
        values.pop("head_dim", None)  # derived from the two; recompute it for the new shape
    return SSRLMConfig.from_dict({**values, **overrides})


def parse_overrides(text: str | None) -> dict[str, Any]:
    """``"a=1,b=x"`` → ``{"a": 1, "b": "x"}`` (values parsed as JSON, else kept as strings)."""
    overrides: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"config override {item!r} is not of the form key=value")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


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


def pack_rows(token_lengths: np.ndarray, row_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Assign samples to rows of ``row_length`` tokens by best-fit decreasing.

    Returns ``(order, offsets)``: row ``r`` holds samples ``order[offsets[r]:offsets[r + 1]]``.
    Deterministic: ties between equal lengths go to the lower index.
    """
    if len(token_lengths) and (token_lengths.min() < 1 or token_lengths.max() > row_length):
        raise ValueError(f"every sample must have between 1 and {row_length} tokens to fit in a row")
    rows_with_room: list[list[int]] = [[] for _ in range(row_length + 1)]  # free tokens → open rows
    has_room = np.zeros(row_length + 1, dtype=bool)
    row_of = np.empty(len(token_lengths), dtype=np.int64)
    num_rows = 0
    for index in np.argsort(-token_lengths, kind="stable"):
        needed = int(token_lengths[index])
        room = needed + int(has_room[needed:].argmax())
        if has_room[room]:
            row = rows_with_room[room].pop()
            has_room[room] = bool(rows_with_room[room])
        else:
            row, room, num_rows = num_rows, row_length, num_rows + 1
        row_of[index] = row
        if room > needed:
            rows_with_room[room - needed].append(row)
            has_room[room - needed] = True
    order = np.argsort(row_of, kind="stable")
    offsets = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=num_rows))))
    return order, offsets


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


def parse_args(argv: list[str] | None) -> tuple[ModelArguments, DataArguments, PretrainingArguments]:
    """The three argument groups from ``argv`` (``None``: ``sys.argv``); ``--help`` lists every flag."""
    description = __doc__.split("\n\n")[0]
    parser = HfArgumentParser((ModelArguments, DataArguments, PretrainingArguments), description=description)
    return parser.parse_args_into_dataclasses(args=argv)


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


def resolve_checkpoint(value: str | None, output_dir: str) -> str | None:
    """``--resume_from_checkpoint``: a checkpoint folder, or ``last`` / ``true`` for the newest in output_dir."""
    if value is None or value.lower() not in ("last", "true"):
        return value
    checkpoint = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
    if checkpoint is None:
        raise FileNotFoundError(f"--resume_from_checkpoint {value}: no checkpoint-* folder in {output_dir}")
    return checkpoint


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


def main(argv: list[str] | None = None) -> MaskedLMTrainer:
    """Parse ``argv`` (default ``sys.argv``), train, save model + tokenizer; returns the trainer."""
    model_args, data_args, training_args = parse_args(argv)
    level = logging.INFO if training_args.should_log else logging.WARNING
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    transformers.utils.logging.set_verbosity(level)
    try:
        trainer = build_trainer(model_args, data_args, training_args)
        checkpoint = resolve_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir)
    except (ValueError, FileNotFoundError) as error:
        print(f"train_mlm.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model()  # save_pretrained of model and tokenizer into output_dir (gathers ZeRO-3 shards)
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    eval_metrics = None
    if trainer.eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
    if trainer.is_world_process_zero():
        write_summary(trainer, model_args, data_args, result.metrics, eval_metrics, argv)
    return trainer


if __name__ == "__main__":
    main()
