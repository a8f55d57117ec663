#!/usr/bin/env python
"""Fine-tune SSR-LM for secondary-structure prediction (``SSRLMForPairPrediction``) with the HF Trainer.

Defaults follow METHOD.md §4 / paper A.1.2: 100 epochs, batch 2, lr 1e-4, AdamW (weight decay
0.01), cosine schedule with a warm-up of 10% of the steps (10 of the 100 epochs); evaluation and a
checkpoint every epoch, the best checkpoint by validation mean F1 (at its best threshold of a
coarse grid, ``f1_tuned``) restored at the end; batches
grouped by length (``train_sampling_strategy=group_by_length`` on the dataset's ``length`` column).
Every default is a command-line option (``--help``; all ``TrainingArguments`` are accepted).

After training, the decision threshold is grid-searched on the validation split
(:func:`~modeling_ssrlm.modeling_ssrlm_pair.choose_threshold`, post-processing as configured),
written into ``config.pair_threshold``, and the model and tokenizer are saved to ``--output_dir``
(``save_pretrained``), with ``threshold_search.json`` and ``finetune_summary.json`` beside them.

Examples::

    # from a pre-trained MLM folder (encoder weights loaded, pair head new)
    python finetune_ss.py --backbone runs/ssrlm-8m-mlm --output_dir runs/ss-bprna
    # from scratch (preset), shorter run, larger positive weight
    python finetune_ss.py --backbone ssrlm-8m --num_train_epochs 2 --config_overrides pair_pos_weight=5
    # PDB from the bpRNA-fine-tuned weights
    accelerate launch finetune_ss.py --init_from runs/ss-bprna --train_split spot_rna_pdb/TR1 \\
        --eval_split spot_rna_pdb/VL1 --output_dir runs/ss-pdb

``--max_length`` *skips* (does not crop) training sequences longer than it, so every training
structure is complete; evaluation sequences are never filtered.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser, TrainingArguments

from modeling_ssrlm.configuration_ssrlm import ALL_PRESETS
from modeling_ssrlm.training.finetuning import finetune

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_DATA_ROOT = REPO_ROOT / "runs" / "ss_datasets"
#: METHOD.md §4 defaults, applied on top of ``TrainingArguments``' own (all still overridable).
TRAINING_DEFAULTS = {
    "output_dir": str(REPO_ROOT / "runs" / "ss_finetune"),
    "num_train_epochs": 100.0,
    "per_device_train_batch_size": 2,
    "per_device_eval_batch_size": 8,
    "learning_rate": 1e-4,
    "weight_decay": 0.01,
    "optim": "adamw_torch",
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.1,  # a fraction of all steps: 10 of 100 epochs
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_strategy": "epoch",
    "save_total_limit": 2,
    "load_best_model_at_end": True,
    "metric_for_best_model": "f1_tuned",  # see make_compute_metrics
    "greater_is_better": True,
    "train_sampling_strategy": "group_by_length",
    "length_column_name": "length",
    "remove_unused_columns": False,  # the collator needs the raw "sequence" and "pairs" columns
    "eval_do_concat_batches": False,  # batches have different L × L shapes
    "include_for_metrics": ["inputs"],  # post-processing needs the sequences
    "report_to": "none",
}


@dataclass
class ModelArguments:
    """Which weights to start from and how to change the pair head's configuration."""

    backbone: str = field(
        default="ssrlm-8m",
        metadata={"help": f"A saved SSR-LM folder (MLM or encoder; its encoder weights are loaded) or a preset "
                  f"name for training from scratch: {', '.join(ALL_PRESETS)}."},
    )
    init_from: str | None = field(
        default=None,
        metadata={"help": "A fine-tuned SSRLMForPairPrediction folder to continue from (e.g. bpRNA → PDB); "
                  "overrides --backbone."},
    )
    freeze_backbone: bool = field(default=False, metadata={"help": "Train the pair head only."})
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Scalar config fields to override, e.g. 'pair_num_blocks=2,pair_pos_weight=5'."},
    )


@dataclass
class DataArguments:
    """Which ss-dataset splits to use (built by data_scripts/build_ss_datasets.py)."""

    data_root: str = field(default=str(DEFAULT_DATA_ROOT), metadata={"help": "Build directory of the ss datasets."})
    train_split: str = field(
        default="bprna/TR0", metadata={"help": "Training split '<dataset>/<split>', or several joined by commas."}
    )
    eval_split: str = field(
        default="bprna/VL0",
        metadata={"help": "Validation split(s), comma-separated (checkpoint selection and threshold)."},
    )
    exclude_similar_to: list[str] = field(
        default_factory=list,
        metadata={"help": "FASTA files (e.g. every test split): training records >= 80 %% identical to any "
                  "of their sequences (MMseqs2) are dropped."},
    )
    mmseqs_threads: int = field(default=1, metadata={"help": "MMseqs2 threads for --exclude_similar_to."})
    prior_cache_dir: str | None = field(
        default=str(REPO_ROOT / "runs" / "prior_cache"),
        metadata={"help": "On-disk cache of the thermodynamic prior channels (models with pair_prior_channels)."},
    )
    prior_workers: int = field(default=2, metadata={"help": "Processes that fill the prior cache before training."})
    max_length: int | None = field(
        default=None, metadata={"help": "Skip training sequences longer than this many nucleotides."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training records."})
    sample_per_split: int | None = field(
        default=None, metadata={"help": "Keep a seeded random sample of at most N records of each training split."}
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N validation records."})


def build_parser() -> HfArgumentParser:
    """Parser for the three argument groups, with METHOD.md's training defaults."""
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    parser.set_defaults(**TRAINING_DEFAULTS)
    return parser


def main(argv: list[str] | None = None) -> int:
    model_args, data_args, training_args = build_parser().parse_args_into_dataclasses(args=argv)
    return finetune(model_args, data_args, training_args)


if __name__ == "__main__":
    sys.exit(main())
