#!/usr/bin/env python
"""Reliability diagram of a pair model's probabilities on validation splits (calibration of a release).

Writes ``<out>/calibration.json`` (bins, ECE, the maximum probability and ties among each sequence's
top pairs) and ``<out>/reliability.png``. Validation splits only: a release is judged here before any
test split is read.

    python benchmarks/calibration.py --model models/ssrlm-ss-priors --splits bprna/VL0 spot_rna_pdb/VL1 --out runs/calibration
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
from modeling_ssrlm.evaluation.benchmark import load_eval_set, load_pair_model  # noqa: E402
from modeling_ssrlm.evaluation.calibration import probability_summary, reliability  # noqa: E402


def plot(result, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.2, 4.2))
    points = [(m, o) for m, o in zip(result.mean_probability, result.observed_frequency) if m is not None]
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    axis.plot([m for m, _ in points], [o for _, o in points], marker="o", label=f"model (ECE {result.ece:.4f})")
    axis.set_xlabel("predicted pair probability (bin mean)")
    axis.set_ylabel("observed pair frequency")
    axis.set_title(title, fontsize=9)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--splits", nargs="+", required=True, help="validation splits, dataset/split[@max_length]")
    parser.add_argument("--data-root", default=str(REPO_ROOT / "runs" / "ss_all"))
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--top", type=int, default=10, help="top pairs per sequence checked for exact ties")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        model = load_pair_model(args.model)
        sets = [load_eval_set(args.data_root, name) for name in args.splits]
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sequences = [s for eval_set in sets for s in eval_set.sequences]
    truths = [t for eval_set in sets for t in eval_set.truths]
    probabilities = model.pair_probabilities(sequences)
    result = reliability(probabilities, truths, model.config.pair_min_separation, args.bins)
    summaries = [probability_summary(p, args.top) for p in probabilities if p.shape[0] > 1]
    report = {
        "model": args.model,
        "splits": args.splits,
        "sequences": len(sequences),
        **result.__dict__,
        "max_probability": max(s["max"] for s in summaries),
        "median_sequence_max_probability": float(np.median([s["max"] for s in summaries])),
        "sequences_with_ties_in_top": sum(s["tied_in_top"] > 0 for s in summaries),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "calibration.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(result, args.out / "reliability.png", f"{Path(args.model).name} on {', '.join(args.splits)}")
    print(json.dumps({k: report[k] for k in ("ece", "max_probability", "median_sequence_max_probability",
                                             "sequences_with_ties_in_top", "sequences")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
