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

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed

from modeling_ssrlm.configuration_ssrlm import PRESETS, SSRLMConfig
from modeling_ssrlm.metrics import pair_scores
from modeling_ssrlm.modeling_ssrlm_pair import (
    SSRLMForPairPrediction,
    choose_threshold,
    logits_to_probabilities,
    search_threshold,
)
from modeling_ssrlm.pair_collator import IGNORE_INDEX, DataCollatorForPairPrediction
from modeling_ssrlm.ss_datasets import load_ss_split
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_DATA_ROOT = REPO_ROOT / "runs" / "ss_datasets"
#: Thresholds tried at each evaluation for checkpoint selection (the final search is finer).
TUNING_GRID = tuple(round(0.1 * step, 1) for step in range(1, 10))

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
                  f"name for training from scratch: {', '.join(PRESETS)}."},
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
    train_split: str = field(default="bprna/TR0", metadata={"help": "Training split, '<dataset>/<split>'."})
    eval_split: str = field(default="bprna/VL0", metadata={"help": "Validation split (model selection, threshold)."})
    max_length: int | None = field(
        default=None, metadata={"help": "Skip training sequences longer than this many nucleotides."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training records."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N validation records."})


def build_parser() -> HfArgumentParser:
    """Parser for the three argument groups, with METHOD.md's training defaults."""
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    parser.set_defaults(**TRAINING_DEFAULTS)
    return parser


def load_split(data_root: str, name: str, max_samples: int | None = None, max_length: int | None = None):
    """Load a split as a ``datasets.Dataset``, optionally truncated to ``max_samples`` and length-filtered."""
    dataset = load_ss_split(data_root, name)
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    if max_length is not None:
        dataset = dataset.filter(lambda length: length <= max_length, input_columns="length")
    if len(dataset) == 0:
        raise ValueError(f"split {name!r} has no records left (max_samples={max_samples}, max_length={max_length})")
    return dataset


def parse_config_overrides(text: str | None) -> dict[str, bool | int | float | str]:
    """Parse ``"name=value,..."`` into typed config fields (the type of each field's default)."""
    if not text:
        return {}
    reference = SSRLMConfig()
    overrides: dict[str, bool | int | float | str] = {}
    for item in text.split(","):
        name, separator, value = item.partition("=")
        current = getattr(reference, name, None)
        if not separator or not hasattr(reference, name):
            raise ValueError(f"bad --config_overrides item {item!r}: expected name=value with a config field name")
        try:
            if isinstance(current, bool):
                overrides[name] = {"true": True, "false": False}[value.lower()]
            elif isinstance(current, (int, float, str)):
                overrides[name] = type(current)(value)
            else:
                raise TypeError
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"bad --config_overrides value {item!r} for a field of type {type(current).__name__}") from None
    return overrides


def build_model(args: ModelArguments) -> SSRLMForPairPrediction:
    """Create the pair model from a fine-tuned folder, a pre-trained backbone folder or a preset."""
    source = args.init_from or args.backbone
    overrides = parse_config_overrides(args.config_overrides)
    if args.init_from is None and source in PRESETS:
        model = SSRLMForPairPrediction(SSRLMConfig.from_preset(source, **overrides))
    elif Path(source).is_dir():
        config = SSRLMConfig.from_pretrained(source, **overrides)
        model = SSRLMForPairPrediction.from_pretrained(source, config=config)
    else:
        raise ValueError(f"{source!r} is neither a model folder nor a preset ({', '.join(PRESETS)})")
    if args.freeze_backbone:
        model.model.requires_grad_(False)
    return model


def make_compute_metrics(model: SSRLMForPairPrediction, tokenizer: SSRLMTokenizer):
    """Return a ``compute_metrics`` giving mean per-sequence precision, recall and F1 (strict).

    ``precision`` / ``recall`` / ``f1`` use the model's current config (threshold and
    post-processing); ``f1_tuned`` is the best mean F1 over :data:`TUNING_GRID` and
    ``threshold_tuned`` its threshold. Checkpoints are selected on ``f1_tuned`` by default, so a
    checkpoint is not discarded just because its probabilities sit below the default 0.5 threshold
    (the final threshold is tuned on the same validation split afterwards).

    It reads the per-batch predictions (``eval_do_concat_batches=False``): logits, labels (-100 in the
    padding gives each sequence's length) and input ids (the bases, for the post-processing).
    """

    def compute_metrics(evaluation) -> dict[str, float]:
        probabilities, sequences, truths = [], [], []
        for predictions, labels, input_ids in zip(evaluation.predictions, evaluation.label_ids, evaluation.inputs):
            logits = predictions[0] if isinstance(predictions, (tuple, list)) else predictions
            for row_logits, row_labels, row_ids in zip(logits, labels, input_ids):
                length = int((row_labels[0] != IGNORE_INDEX).sum())
                sequences.append(tokenizer.decode(row_ids[1 : 1 + length]))
                probabilities.append(logits_to_probabilities(row_logits[:length, :length], model.config.pair_min_separation))
                truths.append(list(zip(*np.nonzero(np.triu(row_labels[:length, :length] == 1, k=1)))))
        scores = [pair_scores(model.decode_pairs(p, s), t) for p, s, t in zip(probabilities, sequences, truths)]
        metrics = {name: float(np.mean([s[name] for s in scores])) for name in ("precision", "recall", "f1")}
        tuned = search_threshold(model, probabilities, sequences, truths, TUNING_GRID)
        metrics.update(f1_tuned=tuned.f1, threshold_tuned=tuned.threshold)
        return metrics

    return compute_metrics


def main(argv: list[str] | None = None) -> int:
    model_args, data_args, training_args = build_parser().parse_args_into_dataclasses(args=argv)
    set_seed(training_args.seed)
    try:
        train_dataset = load_split(data_args.data_root, data_args.train_split, data_args.max_train_samples, data_args.max_length)
        eval_dataset = load_split(data_args.data_root, data_args.eval_split, data_args.max_eval_samples)
        model = build_model(model_args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    tokenizer = SSRLMTokenizer()
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=DataCollatorForPairPrediction(tokenizer),
        processing_class=tokenizer,
        compute_metrics=make_compute_metrics(model, tokenizer),
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)

    model = trainer.model
    search = choose_threshold(model, eval_dataset["sequence"], [[tuple(p) for p in pairs] for pairs in eval_dataset["pairs"]])
    model.config.pair_threshold = search.threshold
    final_metrics = trainer.evaluate(metric_key_prefix="final_eval")

    if trainer.is_world_process_zero():
        output_dir = Path(training_args.output_dir)
        trainer.save_model(str(output_dir))
        tokenizer.save_pretrained(str(output_dir))
        (output_dir / "threshold_search.json").write_text(json.dumps(asdict(search), indent=2) + "\n")
        summary = {
            "model": asdict(model_args),
            "data": {**asdict(data_args), "train_records": len(train_dataset), "eval_records": len(eval_dataset)},
            "global_steps": train_result.global_step,
            "train_metrics": train_result.metrics,
            "best_checkpoint": trainer.state.best_model_checkpoint,
            "best_eval_f1_at_training_threshold": trainer.state.best_metric,
            "threshold": search.threshold,
            "final_eval_metrics": final_metrics,
        }
        (output_dir / "finetune_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(json.dumps({"threshold": search.threshold, **final_metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
