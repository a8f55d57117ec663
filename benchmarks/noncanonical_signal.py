#!/usr/bin/env python
"""How much a pair model's probabilities say about non-canonical pairs (issue 10, item 3).

Over every non-canonical candidate (i, j) (not AU/GC/GU, j − i > 3) of the given splits: the share
that are true pairs (base rate), the average precision of the model's probabilities on them, the
precision of the top-k candidates, and how many candidates above 0.5 lie between a segment and an
exact copy of it (i + 1 and j + 1 carry the same bases as i and j: the repeat artefact). Then the
same over the candidates of the ``"stacked"`` non-canonical pass only
(:func:`~modeling_ssrlm.thermodynamics.stacked_noncanonical_candidates` of each model's structure
decoded without a non-canonical pass), and how many true non-canonical pairs that placement can
reach at all: those stacked on a true canonical pair. Use validation splits (the reach count needs
no model and may read training splits); prints markdown and writes it to ``--out`` when given.

    python benchmarks/noncanonical_signal.py --model models/ssrlm-ss-priors-pdb \\
        --splits spot_rna_pdb/VL1 --out benchmarks/results/noncanonical_signal_pdb3.md
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
from modeling_ssrlm.thermodynamics import stacked_noncanonical_candidates  # noqa: E402

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


def stacked_candidates(model, sequence: str, probabilities: np.ndarray, truth: list) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of the stacked pass's candidates next to the model's decoded pairs (pass off)."""
    saved = model.config.pair_noncanonical_threshold
    model.config.pair_noncanonical_threshold = None
    try:
        decoded = model.decode_pairs(probabilities, sequence)
    finally:
        model.config.pair_noncanonical_threshold = saved
    candidates = stacked_noncanonical_candidates(decoded, sequence)
    true = {tuple(pair) for pair in truth}
    return (np.array([probabilities[pair] for pair in candidates], dtype=float),
            np.array([pair in true for pair in candidates], dtype=bool))


def reachable(sequences: list[str], truths: list) -> tuple[int, int, int]:
    """True non-canonical pairs that stack on a true canonical pair (the stacked pass's reach), those with a
    base in more than one pair (base triples and other multiplets, out of any one-partner decoder's reach),
    and all of them."""
    reached = in_multiplets = total = 0
    for sequence, truth in zip(sequences, truths):
        pairs = [tuple(pair) for pair in truth]
        noncanonical = {pair for pair in pairs if base_pair_type(sequence[pair[0]], sequence[pair[1]]) == "noncanonical"}
        canonical = [pair for pair in pairs if pair not in noncanonical]
        reached += len(noncanonical & set(stacked_noncanonical_candidates(canonical, sequence)))
        partners = np.bincount(np.array(pairs, dtype=int).ravel(), minlength=len(sequence)) if pairs else None
        in_multiplets += sum(1 for i, j in noncanonical if partners[i] > 1 or partners[j] > 1)
        total += len(noncanonical)
    return reached, in_multiplets, total


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
    stacked_lines = [
        "", "Candidates of the stacked pass (next to each model's decoded helices, decoded without a non-canonical pass):", "",
        "| model | candidates | true | base rate | AUPRC |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for spec in args.model:
        name, _, folder = spec.rpartition("=")
        model = load_pair_model(folder)
        probabilities = model.pair_probabilities(sequences, prior_cache_dir=args.prior_cache_dir)
        stacked = [stacked_candidates(model, s, p, t) for s, p, t in zip(sequences, probabilities, truths)]
        stacked_scores, stacked_labels = (np.concatenate(column) for column in zip(*stacked))
        stacked_ap = average_precision_score(stacked_labels, stacked_scores) if stacked_labels.any() else float("nan")
        stacked_lines.append(
            f"| {name or Path(folder).name} | {len(stacked_scores):,} | {int(stacked_labels.sum())} | "
            f"{stacked_labels.mean() if len(stacked_labels) else float('nan'):.3f} | {stacked_ap:.3f} |"
        )
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
    reached, in_multiplets, total = reachable(sequences, truths)
    lines += stacked_lines + [
        "", f"Reach of the stacked placement: {reached} of the {total} true non-canonical pairs stack on a true "
        f"canonical pair with both bases free of canonical pairs; {in_multiplets} have a base in more than one pair "
        "(base triples and other multiplets).",
    ]  # fmt: skip
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    if args.out is not None:
        args.out.write_text(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
