"""Secondary-structure fine-tuning pipeline behind ``finetune_ss.py`` (never shipped with a model).

Data splits → :class:`~modeling_ssrlm.data.pair_collator.DataCollatorForPairPrediction` → Trainer →
threshold chosen on the validation split (:func:`~modeling_ssrlm.training.thresholds.choose_threshold`)
→ ``save_pretrained`` with ``threshold_search.json`` and ``finetune_summary.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from datasets import concatenate_datasets
from transformers import Trainer, set_seed

from ..configuration_ssrlm import ALL_PRESETS, SSRLMConfig
from ..data.pair_collator import DataCollatorForPairPrediction
from ..data.ss_datasets import load_ss_split
from ..io.mmseqs import similar_to
from ..io.sequences import read_fasta
from ..evaluation.metrics import pair_scores
from ..modeling_ssrlm import IGNORE_INDEX
from ..modeling_ssrlm_pair import SSRLMForPairPrediction, logits_to_probabilities
from ..thermodynamics import compute_prior_channels_many
from ..tokenization_ssrlm import SSRLMTokenizer, normalize_sequence
from .overrides import parse_config_overrides
from .thresholds import choose_threshold, search_threshold

#: Thresholds tried at each evaluation for checkpoint selection (the final search is finer).
TUNING_GRID = tuple(round(0.1 * step, 1) for step in range(1, 10))
#: Columns every split has; concatenated splits keep only these.
SPLIT_COLUMNS = ("id", "sequence", "pairs", "family", "length")


def load_split(
    data_root: str,
    name: str,
    max_samples: int | None = None,
    max_length: int | None = None,
    sample_per_split: int | None = None,
    seed: int = 0,
):
    """Load one split, or several (``"a/TR,b/TR"``) concatenated, optionally truncated and length-filtered.

    ``max_samples`` keeps the first N records of each named split; ``max_length`` *skips* (does not
    crop) longer records, so every structure stays complete; ``sample_per_split`` then keeps a
    seeded random sample of at most N records of each split (so that a large split such as the
    Rfam projections does not drown the others, and is not cut at an arbitrary family).
    """
    parts = []
    for part in filter(None, (piece.strip() for piece in name.split(","))):
        dataset = load_ss_split(data_root, part)
        if max_samples is not None:
            dataset = dataset.select(range(min(max_samples, len(dataset))))
        if max_length is not None:
            dataset = dataset.filter(lambda length: length <= max_length, input_columns="length")
        if sample_per_split is not None and len(dataset) > sample_per_split:
            dataset = dataset.shuffle(seed=seed).select(range(sample_per_split))
        parts.append(dataset.select_columns(list(SPLIT_COLUMNS)))
    if not parts:
        raise ValueError(f"no split named in {name!r}")
    dataset = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    if len(dataset) == 0:
        raise ValueError(f"split {name!r} has no records left (max_samples={max_samples}, max_length={max_length})")
    return dataset


def exclude_similar(dataset, fasta_paths: Sequence[str], min_seq_id: float = 0.8, threads: int = 1):
    """Drop the records ≥ ``min_seq_id`` identical (MMseqs2, 80 % coverage) to any sequence of the FASTA files.

    Returns ``(kept dataset, number dropped)``. This is how training sets are kept apart from test
    splits they would otherwise overlap (e.g. RNA3DB-2D train holds sequences of SPOT-RNA TS1).
    """
    if not fasta_paths:
        return dataset, 0
    targets = {
        f"{path}:{record.id}": record.sequence for path in fasta_paths for record in read_fasta(path)
    }
    queries = {str(index): sequence for index, sequence in enumerate(dataset["sequence"])}
    hits = similar_to(queries, targets, min_seq_id=min_seq_id, threads=threads)
    keep = [index for index in range(len(dataset)) if str(index) not in hits]
    return dataset.select(keep), len(dataset) - len(keep)


def build_model(args: ModelArguments) -> SSRLMForPairPrediction:
    """Create the pair model from a fine-tuned folder, a pre-trained backbone folder or a preset."""
    source = args.init_from or args.backbone
    overrides = parse_config_overrides(args.config_overrides)
    if args.init_from is None and source in ALL_PRESETS:
        model = SSRLMForPairPrediction(SSRLMConfig.from_preset(source, **overrides))
    elif Path(source).is_dir():
        config = SSRLMConfig.from_pretrained(source, **overrides)
        model = SSRLMForPairPrediction.from_pretrained(source, config=config)
    else:
        raise ValueError(f"{source!r} is neither a model folder nor a preset ({', '.join(ALL_PRESETS)})")
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


def finetune(model_args, data_args, training_args) -> int:
    """Train, tune the threshold on the validation split, save; returns the exit status (2: bad input)."""
    set_seed(training_args.seed)
    try:
        train_dataset = load_split(
            data_args.data_root, data_args.train_split, data_args.max_train_samples, data_args.max_length,
            data_args.sample_per_split, training_args.seed,
        )
        train_dataset, excluded = exclude_similar(train_dataset, data_args.exclude_similar_to, threads=data_args.mmseqs_threads)
        eval_dataset = load_split(data_args.data_root, data_args.eval_split, data_args.max_eval_samples)
        model = build_model(model_args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    tokenizer = SSRLMTokenizer()
    channels = model.config.pair_prior_channels
    if channels:  # fill the cache in parallel once; the collator then reads every batch's priors from disk
        sequences = [normalize_sequence(s) for s in [*train_dataset["sequence"], *eval_dataset["sequence"]]]
        for _ in compute_prior_channels_many(sequences, channels, data_args.prior_workers, data_args.prior_cache_dir):
            pass
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=DataCollatorForPairPrediction(tokenizer, channels, data_args.prior_cache_dir),
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
            "data": {
                **asdict(data_args),
                "train_records": len(train_dataset),
                "train_records_excluded_as_similar": excluded,
                "eval_records": len(eval_dataset),
            },
            "training": {
                "train_batch_size": training_args.per_device_train_batch_size
                * training_args.gradient_accumulation_steps
                * training_args.world_size,
                "learning_rate": training_args.learning_rate,
                "max_steps": training_args.max_steps,
                "seed": training_args.seed,
            },
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
