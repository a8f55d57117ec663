#!/usr/bin/env python
"""3D on a given secondary structure (``ssrlm fold3d --input-2d``) vs on the model's own 2D source, one run.

For every chain whose sequence has a structure in ``--structures`` (a dot-bracket file; by default the
RNApolis dot-brackets of the shared 3D natives, canonical pairs derived from the native coordinates,
so the best 2D a user could give), the 3D model folds it three ways in one forward pass each
(``modeling_ssrlm.fold3d.training.confidence_rows``):

* ``source``: the model's own 2D source (ViennaRNA for the shipped model), what ``ssrlm fold3d`` does;
* ``given``: :class:`~modeling_ssrlm.fold3d.secondary.KnownStructureSource`, the given pairs as pairs
  and as probabilities, what ``--input-2d`` does;
* ``given pairs, source probabilities``: the given pairs beside the source's probabilities, the
  alternative to the ``given`` design (it changes only the confidence and the network's 2D channels).

Per way: mean C4' lDDT of the floor (the default output) and of the network, the floor's per-target
difference to ``source``, and the calibrated floor pLDDT against the floor's lDDT (Pearson r of the
chain means, mean absolute error). Also the F1 of the source's pairs against the given ones.

    python benchmarks/given_2d.py --model models/ssrlm-fold3d --chains runs/rna3d/valid.npz runs/rna3d/train.npz \\
        --out benchmarks/results/given_2d_valid.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_STRUCTURES = REPO.parent / "shared" / "data" / "rna3d" / "rna3d_natives_rnapolis.dbn.gz"
WAYS = ("source", "given", "given pairs, source probabilities")


def chain_set_rows(model, chains, given, feature_cache: Path | None) -> list[dict]:
    """Per chain with a given structure: ``{"target", "length", "f1_source", <way>: confidence row}``."""
    from modeling_ssrlm.evaluation.metrics import pair_scores
    from modeling_ssrlm.fold3d.features import compute_features_many
    from modeling_ssrlm.fold3d.secondary import get_source
    from modeling_ssrlm.fold3d.training import confidence_rows
    from modeling_ssrlm.tokenization_ssrlm import to_rna

    config = model.config
    source = get_source(config.secondary_structure_source)
    known = [c for c in chains if to_rna(c.sequence) in given.structures]
    sequences = [c.sequence for c in known]
    features = {
        "source": compute_features_many(sequences, source, config.floor_steps, feature_cache, config.floor_helix_extension),
        "given": compute_features_many(sequences, given, config.floor_steps, None, config.floor_helix_extension),
    }
    # the alternative design: the given 2D's pairs and floor, the source's probabilities (nothing recomputed)
    features[WAYS[2]] = [replace(g, probabilities=s.probabilities) for g, s in zip(features["given"], features["source"])]
    confidences = {way: confidence_rows(model, known, features[way]) for way in WAYS}
    rows = []
    for k, chain in enumerate(known):
        source_pairs, given_pairs = features["source"][k].pair_list(), features["given"][k].pair_list()
        rows.append({"target": chain.name, "length": len(chain.sequence),
                     "f1_source": float(pair_scores(source_pairs, given_pairs)["f1"]),
                     **{way: confidences[way][k] for way in WAYS}})
    return rows


def summarise(rows: list[dict]) -> dict:
    """Per way: mean floor / network lDDT, floor difference to ``source``, fraction improved, pLDDT r and MAE."""
    from modeling_ssrlm.fold3d.training import confidence_scores

    summary = {"chains": len(rows), "mean_f1_source": float(np.mean([r["f1_source"] for r in rows]))}
    for way in WAYS:
        difference = np.array([r[way]["floor_lddt"] - r["source"]["floor_lddt"] for r in rows])
        scores = confidence_scores([r[way] for r in rows], "floor_plddt", "floor_lddt")
        summary[way] = {
            "floor_lddt": float(np.mean([r[way]["floor_lddt"] for r in rows])),
            "network_lddt": float(np.mean([r[way]["network_lddt"] for r in rows])),
            "floor_difference": float(difference.mean()),
            "improved_fraction": float(np.mean(difference > 0)),
            "plddt_r": scores["pearson_r"], "plddt_mae": scores["mean_absolute_error"],
        }
    return summary


def report_lines(name: str, summary: dict) -> list[str]:
    lines = [f"### {name} ({summary['chains']} chains with a given 2D; F1 of the source's pairs against it "
             f"{summary['mean_f1_source']:.3f})", "",
             "| 2D | floor C4′ lDDT (default output) | − source | targets improved | network lDDT | "
             "floor pLDDT r | pLDDT MAE |", "|---|---|---|---|---|---|---|"]
    for way in WAYS:
        s = summary[way]
        lines.append(f"| {way} | {s['floor_lddt']:.3f} | {s['floor_difference']:+.3f} | {s['improved_fraction']:.0%} | "
                     f"{s['network_lddt']:.3f} | {s['plddt_r']:.2f} | {s['plddt_mae']:.3f} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="structure-model folder (fold3d.py export)")
    parser.add_argument("--chains", type=Path, nargs="+", required=True, help=".npz chain sets (build_3d_dataset)")
    parser.add_argument("--structures", type=Path, default=DEFAULT_STRUCTURES,
                        help="dot-bracket file of the given structures (default: %(default)s)")
    parser.add_argument("--feature-cache", type=Path, default=None, help="folder caching the source's 2D + floor")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="JSON (a .md with the tables is written beside it)")
    args = parser.parse_args(argv)

    import torch

    from modeling_ssrlm.fold3d import SSRLMForStructurePrediction
    from modeling_ssrlm.fold3d.data import load_chains
    from modeling_ssrlm.fold3d.secondary import KnownStructureSource

    torch.set_num_threads(args.threads)
    try:
        given = KnownStructureSource.from_file(str(args.structures))
        model = SSRLMForStructurePrediction.from_pretrained(args.model)
        chain_sets = {str(path): load_chains(path) for path in args.chains}
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = "python benchmarks/given_2d.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {"model": str(args.model), "structures": str(args.structures), "command": command, "sets": {}}
    lines = [f"# 3D on a given 2D vs the model's 2D source (`{args.model}`)", ""]
    for name, chains in chain_sets.items():
        rows = chain_set_rows(model, chains, given, args.feature_cache)
        if not rows:
            print(f"error: no chain of {name} has a structure in {args.structures}", file=sys.stderr)
            return 2
        summary = summarise(rows)
        result["sets"][name] = {"summary": summary, "per_chain": rows}
        lines += report_lines(name, summary)
        print("\n".join(report_lines(name, summary)), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines + [f"Command: `{command}`", ""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
