#!/usr/bin/env python
"""CPU seconds and wall seconds of ``ssrlm predict`` on one short sequence: start-up, model load, prediction.

Each source tree given with ``--tree`` (default: this checkout) runs the same command in fresh
processes, interleaved round by round so that machine load hits every tree alike; the figure is the
median over ``--repeats`` rounds of the child's user + system CPU time. Each tree runs what its
``ssrlm`` console script runs (the entry point in its ``setup.cfg``), as the installed command
would. Compare the current code with an older commit by checking it out beside this one
(``git worktree add ../old COMMIT``):

    python benchmarks/bench_cli_startup.py --tree . --tree ../old --out benchmarks/results/cli_startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMAND = "import sys; from {module} import {function}; sys.exit({function}(['predict', '{sequence}']))"
ENTRY_POINT = re.compile(r"^\s*ssrlm\s*=\s*([\w.]+):(\w+)\s*$", re.MULTILINE)


def entry_point(tree: Path) -> tuple[str, str]:
    """``(module, function)`` of the ``ssrlm`` console script declared in ``tree``'s ``setup.cfg``."""
    match = ENTRY_POINT.search((tree / "setup.cfg").read_text())
    if match is None:
        raise SystemExit(f"{tree}: no 'ssrlm = module:function' console script in setup.cfg")
    return match.group(1), match.group(2)


def run_once(tree: Path, sequence: str) -> tuple[float, float, str]:
    """CPU seconds, wall seconds and stdout of one ``ssrlm predict`` process: ``tree``'s console script, its package."""
    module, function = entry_point(tree)
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    env.pop("SSRLM_MODEL", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", COMMAND.format(module=module, function=function, sequence=sequence)],
        cwd=tree, env=env, capture_output=True, text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.stdout


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, action="append", help="source tree to measure (repeatable)")
    parser.add_argument("--sequence", default="GGGGAAACCCC")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    trees = [tree.resolve() for tree in (args.tree or [REPO_ROOT])]
    samples: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
    outputs = {}
    for _ in range(args.repeats):
        for tree in trees:
            cpu, wall, outputs[tree] = run_once(tree, args.sequence)
            samples[tree].append((cpu, wall))
    result = {
        "command": f"ssrlm predict {args.sequence}",
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "trees": [
            {
                "tree": str(tree),
                "median_cpu_s": round(statistics.median(cpu for cpu, _ in samples[tree]), 2),
                "median_wall_s": round(statistics.median(wall for _, wall in samples[tree]), 2),
                "output": outputs[tree].strip().splitlines()[-1],
            }
            for tree in trees
        ],
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
