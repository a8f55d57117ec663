#!/usr/bin/env python
"""3D benchmark: floor vs network on the test chains in one run, plus ``ssrlm fold3d`` timing.

Steps (each a call into the package or the CLI, so the figures are what users get):

1. ``fold3d.py predict --mode network`` and ``--mode floor`` with ``--model`` on ``--chains``'s FASTA;
2. ``fold3d.py evaluate`` (C4' lDDT, RMSD, TM-score, per-target difference, fraction improved,
   Pearson r of pLDDT vs lDDT; the C4' distance-geometry floor of issue 5 as a third row);
3. wall time of ``ssrlm fold3d`` (a fresh process, model loading included) on one 120-nt sequence
   in both modes.

Writes ``OUT/evaluation.{md,json}`` and ``--results`` (JSON with the summary, the timing and the commands).

Example::

    python benchmarks/eval_fold3d.py --model models/ssrlm-fold3d --data runs/rna3d --out runs/fold3d/test \\
        --results benchmarks/results/fold3d.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timing_sequence(length: int = 120, seed: int = 0) -> str:
    import numpy as np

    return "".join(np.random.default_rng(seed).choice(list("ACGU"), size=length))


def time_cli(model: Path, mode: str, out: Path, sequence: str, threads: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1")
    arguments = ["fold3d", sequence, "--model", str(model), "--mode", mode, "--out", str(out), "--device", "cpu"]
    command = [sys.executable, "-c", "import sys; from modeling_ssrlm.cli import main; sys.exit(main(sys.argv[1:]))",
               *arguments]
    started = time.time()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=REPO)
    return time.time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="folder with test.npz and test.fasta")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timing-only", action="store_true",
                        help="reuse OUT/evaluation.json (the test set is scored once) and only time ssrlm fold3d")
    args = parser.parse_args(argv)

    import fold3d

    network, floor = args.out / "network", args.out / "floor"
    fasta, chains = str(args.data / "test.fasta"), str(args.data / "test.npz")
    commands = [
        ["--threads", str(args.threads), "predict", "--model", str(args.model), "--fasta", fasta, "--out", str(network)],
        ["--threads", str(args.threads), "predict", "--model", str(args.model), "--mode", "floor", "--fasta", fasta,
         "--out", str(floor)],
        ["--threads", str(args.threads), "evaluate", "--predictions", str(network), "--floor-predictions", str(floor),
         "--chains", chains, "--out", str(args.out)],
    ]
    started = time.time()
    for command in [] if args.timing_only else commands:
        if fold3d.main(command) != 0:
            return 1
    evaluation_seconds = None if args.timing_only else round(time.time() - started, 1)
    sequence = timing_sequence()
    timing = {mode: round(time_cli(args.model, mode, args.out / f"timing_{mode}", sequence, args.threads), 2)
              for mode in ("floor", "network")}
    print(f"ssrlm fold3d, 120 nt, {args.threads} thread(s): " + ", ".join(f"{m} {t:.1f} s" for m, t in timing.items()))
    if args.results:
        summary = json.loads((args.out / "evaluation.json").read_text())
        result = {
            "model": str(args.model),
            "commands": ["python fold3d.py " + " ".join(c) for c in commands],
            "benchmark_command": "python benchmarks/eval_fold3d.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "evaluation_seconds": evaluation_seconds,
            "cli_seconds_120nt": timing,
            "threads": args.threads,
            **{k: summary[k] for k in ("targets", "secondary_structure_source", "methods", "network_minus_floor")},
            "per_target": summary["per_target"],
        }
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(result, indent=2) + "\n")
        (args.results.with_suffix(".md")).write_text((args.out / "evaluation.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
