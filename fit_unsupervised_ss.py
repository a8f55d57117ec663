#!/usr/bin/env python
"""Fit the unsupervised (attention contact regression) secondary-structure head on a frozen SSR-LM.

Paper §3.3.1 / METHOD.md §4: L1 logistic regression (λ = 0.15) over the symmetrised, APC-corrected
attention maps of every layer and head, fitted on ``--num_train`` (20) sequences of the training
split, pairs with ``j − i ≥ 6``; the decision threshold is chosen on ``--num_valid`` (20) sequences of
the validation split. The fitted model (encoder + head, threshold in the config) is saved with
``save_pretrained`` to ``--output_dir``; evaluate it with ``benchmarks/eval_ss.py`` (which reports P@L
and F1) on the test splits.

Example::

    python fit_unsupervised_ss.py --backbone runs/ssrlm-8m-mlm --output_dir runs/ss-unsupervised
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path

from modeling_ssrlm.training.thresholds import choose_threshold
from modeling_ssrlm.data.ss_datasets import load_ss_split
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer
from modeling_ssrlm.modeling_ssrlm_contact import (
    DEFAULT_L1_LAMBDA,
    DEFAULT_MIN_SEPARATION,
    SSRLMForContactRegression,
)
from modeling_ssrlm.training.contact_regression import fit_contact_regression

REPO_ROOT = Path(__file__).resolve().parent


def sample_split(data_root: str, name: str, count: int, seed: int) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """``count`` records of a split drawn at random (seeded): sequences and pair lists."""
    dataset = load_ss_split(data_root, name)
    if count > len(dataset):
        raise ValueError(f"split {name!r} has {len(dataset)} records, fewer than the {count} requested")
    indices = sorted(random.Random(seed).sample(range(len(dataset)), count))
    subset = dataset.select(indices)
    return list(subset["sequence"]), [[tuple(p) for p in pairs] for pairs in subset["pairs"]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", required=True, help="A saved SSR-LM folder (MLM, encoder or pair model).")
    parser.add_argument("--output_dir", required=True, help="Where to save the fitted model.")
    parser.add_argument("--data_root", default=str(REPO_ROOT / "runs" / "ss_datasets"), help="ss-dataset build directory.")
    parser.add_argument("--train_split", default="spot_rna_pdb/TR1", help="Split the regression is fitted on.")
    parser.add_argument("--valid_split", default="spot_rna_pdb/VL1", help="Split the threshold is chosen on.")
    parser.add_argument("--num_train", type=int, default=20, help="Training sequences (paper: 20).")
    parser.add_argument("--num_valid", type=int, default=20, help="Validation sequences (paper: 20).")
    parser.add_argument("--l1_lambda", type=float, default=DEFAULT_L1_LAMBDA, help="λ of the L1 penalty (C = λ).")
    parser.add_argument("--min_separation", type=int, default=DEFAULT_MIN_SEPARATION, help="Minimum j - i of fitted pairs.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random sequence choice.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        train = sample_split(args.data_root, args.train_split, args.num_train, args.seed)
        valid = sample_split(args.data_root, args.valid_split, args.num_valid, args.seed)
        if not Path(args.backbone).is_dir():
            raise ValueError(f"backbone folder {args.backbone!r} not found")
        model = SSRLMForContactRegression.from_pretrained(args.backbone)
        fit = fit_contact_regression(model, *train, l1_lambda=args.l1_lambda, min_separation=args.min_separation)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    search = choose_threshold(model, *valid)
    model.config.pair_threshold = search.threshold
    output_dir = Path(args.output_dir)
    model.save_pretrained(output_dir)
    SSRLMTokenizer().save_pretrained(output_dir)
    summary = {"arguments": vars(args), "fit": asdict(fit), "threshold_search": asdict(search)}
    (output_dir / "fit_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({"fit": asdict(fit), "threshold": search.threshold, "valid_f1": search.f1}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
