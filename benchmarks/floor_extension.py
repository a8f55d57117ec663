#!/usr/bin/env python
"""The A-form floor with and without helix extension, side by side on one chain set (issue 12).

For every chain the 2D source runs once; the floor (:func:`~modeling_ssrlm.fold3d.geometry.floor_frames`)
is then built with each ``--extensions`` value (rounds of
:func:`~modeling_ssrlm.fold3d.geometry.extend_helices`) and scored like ``fold3d.py evaluate`` scores
it (C4' lDDT, RMSD and TM-score after superposition). Per extension: mean lDDT / RMSD / TM-score, and
against the first extension listed the mean per-target lDDT difference and the fraction of targets
improved. The value the package uses (``DEFAULT_HELIX_EXTENSION``) was chosen on the validation
chains; the test chains are scored once, for the report.

    python benchmarks/floor_extension.py --chains runs/rna3d/valid.npz --extensions 0 1 2 3 5 \\
        --out benchmarks/results/floor_extension_valid.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def floor_scores(chains, extensions: list[int], source: str, floor_steps: int) -> list[dict]:
    """One row per chain: ``{"target", "length", "<extension>": score dict}``."""
    from modeling_ssrlm.fold3d.evaluation import score
    from modeling_ssrlm.fold3d.geometry import floor_frames
    from modeling_ssrlm.fold3d.secondary import get_source

    source = get_source(source)
    rows = []
    for chain in chains:
        reference, mask = chain.atom("C4'")
        pairs = source(chain.sequence).pairs
        row = {"target": chain.name, "length": len(chain.sequence)}
        for extension in extensions:
            c4 = floor_frames(chain.sequence, pairs, floor_steps, extension).trans.numpy()
            row[str(extension)] = score(c4, reference, mask)
        rows.append(row)
    return rows


def summarise(rows: list[dict], extensions: list[int]) -> dict:
    """Means per extension and, against the first, the per-target lDDT difference and fraction improved."""
    base = str(extensions[0])
    summary = {}
    for extension in map(str, extensions):
        difference = np.array([row[extension]["lddt"] - row[base]["lddt"] for row in rows])
        summary[extension] = {
            **{key: float(np.mean([row[extension][key] for row in rows])) for key in ("lddt", "rmsd", "tm_score")},
            "lddt_difference": float(difference.mean()),
            "improved_fraction": float(np.mean(difference > 0)),
        }
    return summary


def report(summary: dict, n: int, base: str, chains: str) -> str:
    lines = [
        f"# A-form floor with helix extension ({chains}, {n} chains)", "",
        f"| helix extension | mean C4' lDDT | − extension {base} | targets improved | mean RMSD (Å) | mean TM-score |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for extension, values in summary.items():
        lines.append(
            f"| {extension} | {values['lddt']:.3f} | {values['lddt_difference']:+.3f} | "
            f"{values['improved_fraction']:.0%} | {values['rmsd']:.1f} | {values['tm_score']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=Path, required=True, help="reference chains (.npz from build_3d_dataset)")
    parser.add_argument("--extensions", type=int, nargs="+", default=[0, 2],
                        help="helix-extension rounds to compare; the first is the reference (default: 0 2)")
    parser.add_argument("--source", default="viennarna", help="2D source (default: %(default)s)")
    parser.add_argument("--floor-steps", type=int, default=400)
    parser.add_argument("--out", type=Path, required=True, help="JSON results; the table goes beside it (.md)")
    args = parser.parse_args(argv)
    if any(extension < 0 for extension in args.extensions):
        parser.error("--extensions must be >= 0")

    from modeling_ssrlm.fold3d.data import load_chains

    started = time.time()
    rows = floor_scores(load_chains(args.chains), args.extensions, args.source, args.floor_steps)
    summary = summarise(rows, args.extensions)
    table = report(summary, len(rows), str(args.extensions[0]), args.chains.name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": "python benchmarks/floor_extension.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "chains": str(args.chains), "source": args.source, "floor_steps": args.floor_steps,
        "seconds": round(time.time() - started, 1), "summary": summary, "per_target": rows,
    }, indent=2) + "\n")  # fmt: skip
    args.out.with_suffix(".md").write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
