#!/usr/bin/env python
"""How much a pair model's probabilities say about non-canonical pairs (issue 10, item 3).

Over every non-canonical candidate (i, j) (not AU/GC/GU, j − i > 3) of the given splits: the share
that are true pairs (base rate), the average precision of the model's probabilities on them, the
precision of the top-k candidates, and how many candidates above 0.5 lie between a segment and an
exact copy of it (i + 1 and j + 1 carry the same bases as i and j: the repeat artefact). Use
validation splits; prints markdown and writes it to ``--out`` when given.

    python benchmarks/noncanonical_signal.py --model models/ssrlm-ss-priors-pdb \\
        --splits spot_rna_pdb/VL1 rna3db_2d/valid --out benchmarks/results/noncanonical_signal.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from modeling_ssrlm.evaluation.benchmark import load_eval_set, load_pair_model  # noqa: E402
from modeling_ssrlm.modeling_ssrlm_pair import normalize_batch  # noqa: E402
from modeling_ssrlm.secondary_structure import base_pair_type  # noqa: E402

MIN_SEPARATION = 4
TOP_K = (10, 50, 100, 300)


def noncanonical_candidates(sequence: str, probabilities: np.ndarray, truth: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities, labels, copy flags) of one sequence's non-canonical candidates."""
    rows, cols = np.triu_indices(len(sequence), MIN_SEPARATION)
    keep = np.array([base_pair_type(sequence[i], sequence[j]) == "noncanonical" for i, j in zip(rows, cols)], dtype=bool)
    rows, cols = rows[keep], cols[keep]
    true = {tuple(pair) for pair in truth}
    labels = np.array([(i, j) in true for i, j in zip(rows, cols)], dtype=bool)
    copies = np.array(
        [sequence[i] == sequence[j] and j + 1 < len(sequence) and sequence[i + 1] == sequence[j + 1] for i, j in zip(rows, cols)],
        dtype=bool,
    )
    return probabilities[rows, cols], labels, copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=DIR or DIR (repeatable)")
    parser.add_argument("--splits", nargs="+", required=True, help="validation splits")
    parser.add_argument("--data-root", default=str(REPO_ROOT / "runs" / "ss_all"))
    parser.add_argument("--prior-cache-dir", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sets = [load_eval_set(args.data_root, name) for name in args.splits]
    sequences = normalize_batch([s for eval_set in sets for s in eval_set.sequences])
    truths = [t for eval_set in sets for t in eval_set.truths]
    lines = [
        f"# Non-canonical signal ({', '.join(args.splits)}; {len(sequences)} sequences)", "",
        "| model | candidates | true | base rate | AUPRC | " + " | ".join(f"P@{k}" for k in TOP_K)
        + " | > 0.5 | of them true | of them between copies |",
        "|---" * (8 + len(TOP_K)) + "|",
    ]  # fmt: skip
    for spec in args.model:
        name, _, folder = spec.rpartition("=")
        model = load_pair_model(folder)
        probabilities = model.pair_probabilities(sequences, prior_cache_dir=args.prior_cache_dir)
        parts = [noncanonical_candidates(s, p, t) for s, p, t in zip(sequences, probabilities, truths)]
        scores, labels, copies = (np.concatenate(column) for column in zip(*parts))
        order = np.argsort(-scores, kind="stable")
        confident = scores > 0.5
        average_precision = average_precision_score(labels, scores)  # pooled over every candidate
        lines.append(
            f"| {name or Path(folder).name} | {len(scores):,} | {int(labels.sum())} | {labels.mean():.5f} | "
            f"{average_precision:.4f} | " + " | ".join(f"{labels[order[:k]].mean():.3f}" for k in TOP_K)
            + f" | {int(confident.sum())} | {int((confident & labels).sum())} | {int((confident & copies).sum())} |"
        )
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    if args.out is not None:
        args.out.write_text(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
