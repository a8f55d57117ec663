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

Reproducibility and resuming: with the same arguments a run is deterministic on CPU, and a resumed
run continues exactly where its checkpoint left it. Re-running the command of an interrupted run
resumes it from the newest complete ``checkpoint-N`` in ``--output_dir`` (as does
``--resume_from_checkpoint last``); a non-empty ``--output_dir`` without a checkpoint is refused, and
``--overwrite_output_dir`` starts over at step 0, deleting the earlier run's checkpoints:

* the row order of each epoch comes from the Trainer's sampler, seeded by ``--seed`` (or
  ``--data_seed``) and the epoch, and the Trainer skips the rows already trained on when it resumes;
* the masks of a row are drawn from a generator seeded by ``(seed, split, epoch, row)`` only, not
  by a stream that would have to be replayed, so skipped batches need not be collated and the
  masks after resuming equal those of an uninterrupted run (a new epoch draws new masks; the
  validation rows keep the same masks for the whole run);
* model, optimizer, scheduler and RNG states come from the checkpoint (Trainer).

This holds with ``--dataloader_num_workers 0`` (the default). With workers, row order is still
reproduced, but :class:`~modeling_ssrlm.data.mlm_collator.DataCollatorForSSM` mixes the worker's
per-epoch torch seed into its generator, so the masks after a resume differ from an uninterrupted
run (they stay valid samples of the same masking distribution).

The final model and tokenizer are written with ``save_pretrained`` to ``--output_dir``, so
``AutoModelForMaskedLM.from_pretrained(output_dir)`` loads them (after ``import modeling_ssrlm``, or
with ``trust_remote_code=True``), with ``pretraining_summary.json`` beside them: the arguments, the
budget (steps, token slots) and the final metrics, the record that model cards are generated from.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

import transformers
from transformers import HfArgumentParser, TrainingArguments

from modeling_ssrlm.configuration_ssrlm import ALL_PRESETS
from modeling_ssrlm.training.mlm_trainer import MaskedLMTrainer
from modeling_ssrlm.training.pretraining import build_trainer, remove_checkpoints, start_checkpoint, write_summary

logger = logging.getLogger(__name__)

@dataclass
class ModelArguments:
    """Which encoder to pre-train."""

    preset: str | None = field(
        default="ssrlm-8m", metadata={"help": f"Size preset, one of {sorted(ALL_PRESETS)} (ignored with --config_name)."}
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
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Start over at step 0 in a non-empty --output_dir, deleting its checkpoint-* folders. Without "
            "it, the newest checkpoint there is resumed, and a non-empty folder without one is refused."
        },
    )


def parse_args(argv: list[str] | None) -> tuple[ModelArguments, DataArguments, PretrainingArguments]:
    """The three argument groups from ``argv`` (``None``: ``sys.argv``); ``--help`` lists every flag."""
    description = __doc__.split("\n\n")[0]
    parser = HfArgumentParser((ModelArguments, DataArguments, PretrainingArguments), description=description)
    return parser.parse_args_into_dataclasses(args=argv)


def main(argv: list[str] | None = None) -> MaskedLMTrainer:
    """Parse ``argv`` (default ``sys.argv``), train, save model + tokenizer; returns the trainer."""
    model_args, data_args, training_args = parse_args(argv)
    level = logging.INFO if training_args.should_log else logging.WARNING
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    transformers.utils.logging.set_verbosity(level)
    try:
        checkpoint = start_checkpoint(
            training_args.output_dir, training_args.resume_from_checkpoint, training_args.overwrite_output_dir
        )
        trainer = build_trainer(model_args, data_args, training_args)
    except (ValueError, FileNotFoundError) as error:
        print(f"train_mlm.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    if training_args.overwrite_output_dir and training_args.should_save:
        remove_checkpoints(training_args.output_dir)
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
