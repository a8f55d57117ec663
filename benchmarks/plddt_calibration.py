#!/usr/bin/env python
"""pLDDT vs lDDT per chain, side by side in one run: calibrated floor pLDDT, floor head, network head.

For one model folder with ``floor_plddt_calibration`` (``fold3d.py calibrate``) and one or more chain
sets, one forward pass per whole chain gives the three confidences at once: the calibrated linear
model of the 2D (``output.floor_plddt``), the floor pLDDT head's expectation (from
``output.floor_plddt_logits``, what the floor's pLDDT was before calibration) and the network pLDDT
head (``output.plddt``) (``modeling_ssrlm.fold3d.training.confidence_rows``). Scores per set: Pearson r
of the chain means against the floor's (or the network's) C4' lDDT, and the mean absolute error of the means.

Example::

    python benchmarks/plddt_calibration.py --model models/ssrlm-fold3d --chains runs/rna3d/valid.npz \\
        --out benchmarks/results/plddt_calibration_valid.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: ``(row label, confidence key, lDDT key)`` of the report.
ROWS = (
    ("floor pLDDT, calibrated linear model of the 2D (`floor_plddt_calibration`)", "floor_plddt", "floor_lddt"),
    ("floor pLDDT head (the floor's pLDDT before calibration)", "floor_head", "floor_lddt"),
    ("network pLDDT head, against the network's lDDT", "network_head", "network_lddt"),
)


def report_lines(name: str, rows: list[dict], summary: dict) -> list[str]:
    lines = [f"### {name} ({len(rows)} chains)", "",
             "| confidence | Pearson r (chain means) | mean abs. error | mean pLDDT | mean lDDT |", "|---|---|---|---|---|"]
    for label, confidence, _ in ROWS:
        s = summary[confidence]
        lines.append(f"| {label} | {s['pearson_r']:.2f} | {s['mean_absolute_error']:.3f} | {s['mean_plddt']:.3f} | "
                     f"{s['mean_lddt']:.3f} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="structure-model folder with a floor calibration")
    parser.add_argument("--chains", type=Path, nargs="+", required=True, help=".npz chain sets (build_3d_dataset)")
    parser.add_argument("--feature-cache", type=Path, default=None, help="folder caching 2D + floor")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="JSON (a .md with the tables is written beside it)")
    args = parser.parse_args(argv)

    import torch

    from modeling_ssrlm.fold3d import SSRLMForStructurePrediction
    from modeling_ssrlm.fold3d.data import load_chains
    from modeling_ssrlm.fold3d.features import compute_features_many
    from modeling_ssrlm.fold3d.training import confidence_rows, confidence_scores

    torch.set_num_threads(args.threads)
    model = SSRLMForStructurePrediction.from_pretrained(args.model)
    config = model.config
    if config.floor_plddt_calibration is None:
        print(f"error: {args.model} has no floor_plddt_calibration (run fold3d.py calibrate)", file=sys.stderr)
        return 2
    result = {"model": str(args.model), "coefficients": config.floor_plddt_calibration,
              "command": "python benchmarks/plddt_calibration.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "sets": {}}
    lines = [f"# pLDDT vs lDDT (`{args.model}`)", ""]
    for path in args.chains:
        chains = load_chains(path)
        features = compute_features_many([c.sequence for c in chains], config.secondary_structure_source,
                                         config.floor_steps, args.feature_cache, config.floor_helix_extension)
        rows = confidence_rows(model, chains, features)
        summary = {confidence: confidence_scores(rows, confidence, target) for _, confidence, target in ROWS}
        result["sets"][str(path)] = {"summary": summary, "per_chain": rows}
        lines += report_lines(str(path), rows, summary)
        print("\n".join(report_lines(str(path), rows, summary)), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines + [f"Command: `{result['command']}`", ""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
