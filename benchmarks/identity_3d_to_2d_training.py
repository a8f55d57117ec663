#!/usr/bin/env python
"""How close the 3D chain sets are to the 2D models' training data (MMseqs2), issue 12.

A pair model used as the 3D model's 2D source is a fair input only for chains it has not seen. For
each chain set (``.npz`` from ``build_3d_dataset.py``): how many chains are ≥ 80 %, 50–80 % and
< 50 % identical (MMseqs2, 80 % coverage, as the rest of the package) to any record of ``--splits``,
with each chain's nearest record. Prints markdown and writes it to ``--out``.

    python benchmarks/identity_3d_to_2d_training.py --chains runs/rna3d/valid.npz runs/rna3d/test.npz \\
        --splits spot_rna_pdb/TR1 rna3db_2d/train bprna/TR0 rfam_ss/train \\
        --out benchmarks/results/identity_3d_to_2d_training.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from modeling_ssrlm.data.ss_datasets import load_ss_split  # noqa: E402
from modeling_ssrlm.fold3d.data import load_chains  # noqa: E402
from modeling_ssrlm.io.mmseqs import similar_to  # noqa: E402
from modeling_ssrlm.tokenization_ssrlm import to_rna  # noqa: E402

BINS = (0.5, 0.8)


def nearest_records(chains, training: dict[str, str], threads: int) -> dict[str, tuple[str | None, float]]:
    """Chain name → (nearest training record, identity), identity 0 without a hit at 50 %."""
    queries = {chain.name: to_rna(chain.sequence) for chain in chains}
    hits = similar_to(queries, training, min_seq_id=BINS[0], threads=threads)
    return {name: hits.get(name, (None, 0.0)) for name in queries}


def report(name: str, nearest: dict[str, tuple[str | None, float]]) -> list[str]:
    identities = [identity for _, identity in nearest.values()]
    high = sum(identity >= BINS[1] for identity in identities)
    middle = sum(BINS[0] <= identity < BINS[1] for identity in identities)
    lines = [
        f"## {name}: {len(identities)} chains — ≥ 80 %: {high}, 50–80 %: {middle}, < 50 %: {len(identities) - high - middle}",
        "", "| chain | nearest training record | identity |", "|---|---|---|",
    ]  # fmt: skip
    lines += [f"| {chain} | {record or '–'} | {identity:.3f} |" for chain, (record, identity) in nearest.items()]
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=Path, nargs="+", required=True, help="chain sets (.npz)")
    parser.add_argument("--splits", nargs="+", required=True, help="the 2D training splits (dataset/split)")
    parser.add_argument("--data-root", default=str(REPO_ROOT / "runs" / "ss_all"))
    parser.add_argument("--threads", type=int, default=1, help="MMseqs2 threads")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    training = {}
    for split in args.splits:
        dataset = load_ss_split(args.data_root, split)
        training.update({f"{split}:{record}": sequence for record, sequence in zip(dataset["id"], dataset["sequence"])})
    lines = [f"# Identity of 3D chains to the 2D training data ({', '.join(args.splits)}; {len(training):,} records)", ""]
    for path in args.chains:
        lines += report(path.name, nearest_records(load_chains(path), training, args.threads))
    markdown = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
