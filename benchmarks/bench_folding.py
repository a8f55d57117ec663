#!/usr/bin/env python
"""Folding throughput of the corpus pipeline: sequences per second with 1 and 2 worker processes.

Folds a fixed random sample of Rfam 14.9 seed sequences (``--num-sequences``, seeded) through
:func:`modeling_ssrlm.data.labelling.fold_many`, the code path of ``data_scripts/prepare_pretraining.py``,
once per worker count. The wall time includes starting the process pool. Prints a markdown table
and writes the figures to ``benchmarks/results/folding.json``.

Folding time grows with the cube of the length, so in a sample of a few hundred one long outlier
decides the timing: with seed 0 and no cap, the single 3,724-nt seed is 87 % of the O(L³)
work of 400 sequences, and no number of workers can go faster than that one sequence. The sample
is therefore drawn from sequences of at most ``--max-length`` nt (default 1,000), which measures
the throughput on the bulk of the corpus (99.3 % of the Rfam seeds are that short). Usage::

    python benchmarks/bench_folding.py --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from modeling_ssrlm.data.labelling import available_folding_backends, fold_many, get_folding_backend
from modeling_ssrlm.io.sequences import read_sequence_file
from modeling_ssrlm.tokenization_ssrlm import normalize_sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
RFAM_FASTA = "rfam/rfam14.9_seed_ungapped.fa.gz"


def sample_sequences(path: Path, count: int, seed: int, max_length: int | None) -> list[str]:
    """A seeded random sample of ``count`` normalised sequences of at most ``max_length`` nt.

    Records with invalid characters are skipped.
    """
    sequences = []
    for record in read_sequence_file(path):
        try:
            sequence = normalize_sequence(record.sequence)
        except ValueError:
            continue
        if max_length is None or len(sequence) <= max_length:
            sequences.append(sequence)
    if count > len(sequences):
        raise ValueError(f"--num-sequences {count} exceeds the {len(sequences)} sequences of {path}")
    return random.Random(seed).sample(sequences, count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="shared data folder")
    parser.add_argument("--num-sequences", type=int, default=400, help="sample size (default 400)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--max-length", type=int, default=1000, help="longest sequence sampled (default 1000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)")
    parser.add_argument("--folding", default="vienna", choices=available_folding_backends())
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "folding.json")
    args = parser.parse_args(argv)
    if args.num_sequences < 1 or min(args.workers) < 1:
        parser.error("--num-sequences and --workers must be at least 1")
    path = args.data_dir / RFAM_FASTA
    if not path.is_file():
        print(f"{Path(sys.argv[0]).name}: error: {path} not found (set --data-dir)", file=sys.stderr)
        return 2

    sequences = sample_sequences(path, args.num_sequences, args.seed, args.max_length)
    lengths = [len(sequence) for sequence in sequences]
    backend = get_folding_backend(args.folding)
    runs, reference = [], None
    for workers in args.workers:
        start = time.perf_counter()
        structures = list(fold_many(sequences, backend, workers=workers))
        seconds = time.perf_counter() - start
        if reference is not None and structures != reference:
            raise RuntimeError(f"{workers} workers gave different structures than {args.workers[0]}")
        reference = structures
        runs.append(
            {
                "workers": workers,
                "seconds": round(seconds, 3),
                "sequences_per_second": round(len(sequences) / seconds, 2),
                "nucleotides_per_second": round(sum(lengths) / seconds, 1),
            }
        )
    baseline = runs[0]["sequences_per_second"]
    for run in runs:
        run["speedup"] = round(run["sequences_per_second"] / baseline, 2)

    result = {
        "backend": backend.name,
        "sample": {
            "source": RFAM_FASTA,
            "num_sequences": len(sequences),
            "seed": args.seed,
            "max_length_cap": args.max_length,
            "total_nt": sum(lengths),
            "median_length": statistics.median(lengths),
            "max_length": max(lengths),
        },
        "machine": {"cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()]},
        "runs": runs,
    }
    sample_info = result["sample"]
    print(
        f"{backend.name}, {sample_info['num_sequences']} Rfam seed sequences ({sample_info['total_nt']} nt, "
        f"median {sample_info['median_length']} nt, max {sample_info['max_length']} nt)\n"
    )
    print("| workers | seconds | sequences/s | nt/s | speed-up |\n|---|---|---|---|---|")
    for run in runs:
        cells = (run["workers"], run["seconds"], run["sequences_per_second"], run["nucleotides_per_second"])
        print("| " + " | ".join(map(str, cells)) + f" | {run['speedup']}× |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
