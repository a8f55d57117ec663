#!/usr/bin/env python
"""Wall time of one 3D prediction against sequence length (model loaded once), floor and network modes.

What a request of the web page's 3D button costs (``ssrlm serve`` builds 3D models of up to
``serve.MAX_3D_LENGTH`` nt): :func:`~modeling_ssrlm.fold3d.inference.fold_sequence` on random
sequences, 2D (ViennaRNA) and floor included, PDB writing and model loading not. The fresh-process
figure of ``ssrlm fold3d`` at 120 nt is ``benchmarks/eval_fold3d.py``'s.

Example::

    python benchmarks/bench_fold3d_length.py --model models/ssrlm-fold3d --lengths 120 250 500 1000 \\
        --out benchmarks/results/fold3d_length.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="structure-model folder")
    parser.add_argument("--lengths", type=int, nargs="+", default=[120, 250, 500, 1000])
    parser.add_argument("--modes", nargs="+", choices=("floor", "network"), default=["floor", "network"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="JSON (a .md table is written beside it)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from modeling_ssrlm.fold3d import SSRLMForStructurePrediction
    from modeling_ssrlm.fold3d.inference import fold_sequence

    torch.set_num_threads(args.threads)
    model = SSRLMForStructurePrediction.from_pretrained(args.model).eval()
    rng = np.random.default_rng(args.seed)
    seconds: dict[str, dict[str, float]] = {}
    for length in args.lengths:
        sequence = "".join(rng.choice(list("ACGU"), size=length))
        for mode in args.modes:
            started = time.perf_counter()
            fold_sequence(sequence, model, mode)
            seconds.setdefault(str(length), {})[mode] = round(time.perf_counter() - started, 2)
        print(f"{length} nt: " + ", ".join(f"{m} {s:.1f} s" for m, s in seconds[str(length)].items()), flush=True)
    command = "python benchmarks/bench_fold3d_length.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {"model": str(args.model), "threads": args.threads, "seed": args.seed, "seconds": seconds,
              "command": command}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    header = "| length (nt) | " + " | ".join(f"{mode} (s)" for mode in args.modes) + " |"
    rows = [f"| {length} | " + " | ".join(f"{seconds[length][mode]:.1f}" for mode in args.modes) + " |"
            for length in seconds]
    table = [f"# 3D prediction time vs length (`{args.model}`, {args.threads} thread(s), model loaded once)", "",
             header, "|" + "---|" * (len(args.modes) + 1), *rows, "", f"Command: `{command}`", ""]
    args.out.with_suffix(".md").write_text("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
