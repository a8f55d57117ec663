#!/usr/bin/env python
"""MLM vs SM vs SSM at a scale two CPU cores can answer: pre-training, learning curves, probes, statistics.

One command builds what is missing (ss splits, a corpus with Rfam consensus structures and without
the span probe's held-out families), pre-trains every arm and seed with equal tokens, records the
learning curves, runs the probes and writes ``OUT/results/ablation.md``, ``results.json`` and
``curves.png``. Re-running the same command resumes: finished steps are skipped and an interrupted
pre-training continues from its newest checkpoint. The pipeline and every option are documented in
:mod:`modeling_ssrlm.evaluation.masking_ablation`; the defaults are the README's budget.

    # the full ablation (3 arms × 3 seeds, 2 workers of one thread each on a 2-core CPU)
    python benchmarks/masking_ablation.py --out runs/masking_ablation --jobs 2
    # every step in seconds on a tiny model (what the tests run, with fixture data)
    python benchmarks/masking_ablation.py --smoke --out runs/masking_ablation_smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO_ROOT))
from modeling_ssrlm.evaluation.masking_ablation import (  # noqa: E402
    Ablation,
    AblationSettings,
    smoke_settings,
)

TUPLE_FIELDS = {"arms": str, "seeds": int, "contact_test_splits": str, "pair_test_splits": str}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny budget: every step in seconds (other options still apply)")
    parser.add_argument("--only", metavar="ARM:SEED", help="run steps 2-4 of one backbone (worker processes)")
    parser.add_argument("--summary-only", action="store_true", help="only rewrite the tables and plot from finished runs")
    defaults = AblationSettings()
    for item in dataclasses.fields(AblationSettings):
        flag = "--" + item.name.replace("_", "-")
        default = getattr(defaults, item.name)
        if item.name in TUPLE_FIELDS:
            parser.add_argument(flag, nargs="+", type=TUPLE_FIELDS[item.name], default=None, help=f"default: {' '.join(map(str, default))}")
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"default: {default}")
        else:
            kind = int if isinstance(default, int) else float if isinstance(default, float) else str
            parser.add_argument(flag, type=kind, default=None, help=f"default: {default}")
    return parser


def settings_from(args: argparse.Namespace) -> AblationSettings:
    """The defaults (or the smoke budget with ``--smoke``), then every option given on the command line."""
    given = {
        item.name: tuple(value) if item.name in TUPLE_FIELDS else value
        for item in dataclasses.fields(AblationSettings)
        if (value := getattr(args, item.name)) is not None
    }
    return smoke_settings(**given) if args.smoke else AblationSettings(**given)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    ablation = Ablation(settings)
    try:
        if args.only:
            arm, _, seed = args.only.partition(":")
            ablation.run_backbone(arm, int(seed))
            return 0
        if args.summary_only:
            ablation.summarize()
        else:
            worker_argv = [arg for arg in argv]

            def worker(arm: str, seed: int) -> list[str]:
                return [sys.executable, str(Path(__file__).resolve()), *worker_argv, "--only", f"{arm}:{seed}"]

            ablation.run(worker)
    except (ValueError, FileNotFoundError) as error:
        print(f"masking_ablation.py: error: {error}", file=sys.stderr)
        return 2
    print((Path(settings.out) / "results" / "ablation.md").read_text())
    print(f"tables and numbers: {Path(settings.out) / 'results'} (ablation.md, results.json, curves.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
