#!/usr/bin/env python
"""Secondary-structure benchmark: our models (each decoder), ViennaRNA and the stored baselines, one table.

Every method is scored on the same records in the same run by the same scorer
(:mod:`modeling_ssrlm.evaluation.benchmark`): precision, recall, F1 (strict, the headline; ±1
shift-tolerant), AUPRC and P@L where a method has probabilities, F1 on non-canonical pairs, F1 by
length bin and, with ``--identity-to``, by identity to the nearest training sequence (MMseqs2);
seconds per sequence for the methods run here (ours: priors + model + decoding; ViennaRNA: MFE +
partition function). Stored predictions of CONTRAfold, EternaFold and MXfold2 (``--baselines-dir``)
are scored on every set they cover completely.

``--model`` takes ``NAME=DIR`` (or ``DIR``, named after its folder) and may be repeated;
``--decoders`` runs each model under each listed decoder (default: its own ``config.pair_decoder``).
A split may carry ``@N`` to keep records of at most N nt (``archiveii/all@600``), ``%K`` for a seeded
sample of K records, and ``[stem]`` to keep the records of a stored baseline set
(``archiveii/all[archiveii_sub200]``: the 200 ArchiveII records MXfold2 was run on). Timing
(``--timing-lengths``): one random sequence per length, each model's ``predict`` against ViennaRNA's
partition function, medians of ``--timing-repeats``. ``--compare A B`` (repeatable; method names as
in the table) adds A − B of the per-sequence F1 on every set and over all sets, with a 95 % interval
and p from a paired bootstrap over the sequences.

Outputs ``<out>/eval.json`` and ``<out>/eval.md`` and prints the markdown. Test splits are for
reporting: make every choice (checkpoints, thresholds, decoders) on validation splits.

Example::

    python benchmarks/eval_ss.py --model shipped=models/ssrlm-ss-priors --splits bprna/TS0 spot_rna_pdb/TS1 \\
        --decoders threshold vienna_mfe --out runs/eval
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO_ROOT))
from modeling_ssrlm.cli import available_cores  # noqa: E402
from modeling_ssrlm.data.ss_datasets import load_ss_split  # noqa: E402
from modeling_ssrlm.evaluation.benchmark import (  # noqa: E402
    BASELINE_TOOLS,
    compare_methods,
    identity_to_training,
    load_baselines,
    load_eval_set,
    load_pair_model,
    per_sequence_f1,
    run_model,
    run_vienna,
    score_run,
)
from modeling_ssrlm.thermodynamics import vienna_fold  # noqa: E402

VIENNA = "ViennaRNA MFE"
DEFAULT_BASELINES = REPO_ROOT.parent / "shared" / "baselines"
DETAIL_COLUMNS = (
    ("precision", "P"), ("recall", "R"), ("f1", "F1"), ("f1_shift1", "F1 ±1"),
    ("f1_noncanonical", "non-canonical F1"), ("auprc", "AUPRC"), ("seconds_per_sequence", "s/seq"),
)


def parse_models(values: list[str]) -> dict[str, str]:
    """``NAME=DIR`` or ``DIR`` → ``{name: dir}``; a repeated name is an error."""
    models: dict[str, str] = {}
    for value in values:
        name, separator, path = value.partition("=")
        name, path = (name, path) if separator else (Path(value).name, value)
        if name in models:
            raise ValueError(f"--model name {name!r} given twice")
        models[name] = path
    return models


def evaluate(args: argparse.Namespace, prior_cache_dir: str) -> dict:
    """Run every method on every split; returns the report (``splits`` → method → scores)."""
    models = {name: load_pair_model(path) for name, path in parse_models(args.model).items()}
    training = {}
    for split in filter(None, (args.identity_to or "").split(",")):
        dataset = load_ss_split(args.data_root, split.strip())
        training.update({f"{split}:{i}": s for i, s in zip(dataset["id"], dataset["sequence"])})
    report = {"splits": {}, "models": parse_models(args.model), "decoders": args.decoders}
    per_sequence: dict[str, dict] = {}
    for name in args.splits:
        eval_set = load_eval_set(args.data_root, name, args.limit, baseline_ids(args.baselines_dir, name))
        bins = identity_to_training(eval_set, training, threads=args.threads) if training else None
        runs = {}
        for model_name, model in models.items():
            decoders = args.decoders or [None]
            for decoder, run in run_model(model, eval_set.sequences, decoders, args.batch_tokens, prior_cache_dir).items():
                runs[method_name(model_name, decoder)] = run
        if not args.no_vienna:
            runs[VIENNA] = run_vienna(eval_set.sequences)
        runs.update(load_baselines(args.baselines_dir, eval_set))
        report["splits"][name] = {method: score_run(eval_set, run, bins) for method, run in runs.items()}
        per_sequence[name] = {method: per_sequence_f1(eval_set, run) for method, run in runs.items()}
    report["comparisons"] = {f"{a} − {b}": compare_methods(per_sequence, a, b) for a, b in args.compare or []}
    report["timing_jobs"] = args.jobs
    report["timing"] = time_models(models, args.timing_lengths, args.timing_repeats, args.seed, args.jobs)
    report["machine"] = f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"
    return report


def method_name(model_name: str, decoder: str | None) -> str:
    """The table's name of a model run under a decoder (``None``: its own)."""
    return model_name if decoder is None else f"{model_name} [{decoder}]"


def check_comparisons(args: argparse.Namespace) -> None:
    """``ValueError`` when a ``--compare`` name is no method this run can produce."""
    methods = {method_name(m, d) for m in parse_models(args.model) for d in (args.decoders or [None])}
    methods |= set(BASELINE_TOOLS.values()) | (set() if args.no_vienna else {VIENNA})
    for name in (name for pair in args.compare or [] for name in pair):
        if name not in methods:
            raise ValueError(f"--compare: no method {name!r} in this run (methods: {', '.join(sorted(methods))})")


def baseline_ids(baselines_dir: str, name: str) -> set[str] | None:
    """``archiveii/all[archiveii_sub200]``: the ids of the stored baseline set named in brackets (else None)."""
    if not name.endswith("]"):
        return None
    stem = name[name.index("[") + 1 : -1]
    path = Path(baselines_dir) / f"{stem}.viennarna_mfe.jsonl"
    if not path.is_file():
        raise ValueError(f"{name}: no baseline set {stem!r} in {baselines_dir}")
    return {json.loads(line)["id"] for line in path.read_text().splitlines()}


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the prior-channel workers)."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def _timed(function) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    function()
    return time.perf_counter() - wall, _cpu_seconds() - cpu


def time_models(models: dict, lengths: list[int], repeats: int, seed: int, jobs: int) -> list[dict]:
    """Wall and CPU seconds of each model's ``predict`` (as ``ssrlm predict --jobs jobs`` runs it) and
    of ViennaRNA's partition function (MFE + pf + pair probabilities, one core) on random sequences."""
    rng = random.Random(seed)
    rows = []
    for length in sorted(lengths):
        sequence = "".join(rng.choice("ACGU") for _ in range(length))
        row = {"length": length}
        vienna = [_timed(lambda: vienna_fold(sequence, "turner2004", kinds=("bpp",))) for _ in range(repeats)]
        row["vienna_pf_seconds"] = statistics.median(wall for wall, _ in vienna)
        row["vienna_pf_cpu_seconds"] = statistics.median(cpu for _, cpu in vienna)
        for name, model in models.items():
            model.predict(["GGGAAACCC"])  # warm-up
            runs = [_timed(lambda: model.predict([sequence], prior_workers=jobs)) for _ in range(repeats)]
            row[f"{name}_seconds"] = statistics.median(wall for wall, _ in runs)
            row[f"{name}_over_vienna_pf"] = row[f"{name}_seconds"] / row["vienna_pf_seconds"]
            row[f"{name}_cpu_seconds"] = statistics.median(cpu for _, cpu in runs)
            vienna_cpu = row["vienna_pf_cpu_seconds"]
            row[f"{name}_cpu_over_vienna_pf"] = row[f"{name}_cpu_seconds"] / vienna_cpu if vienna_cpu > 0 else math.nan
        rows.append(row)
    return rows


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def to_markdown(report: dict) -> str:
    """Headline F1 table (methods × sets), then per-set details, identity and length bins, timing."""
    splits = report["splits"]
    methods = list(dict.fromkeys(method for rows in splits.values() for method in rows))
    lines = ["# Secondary-structure benchmark (strict F1, per-sequence mean)", "",
             "| method | " + " | ".join(f"{name} (n={next(iter(rows.values()))['n_sequences']})" for name, rows in splits.items()) + " |",
             "|---" * (len(splits) + 1) + "|"]
    for method in methods:
        lines.append(f"| {method} | " + " | ".join(_cell(splits[s].get(method, {}).get("f1")) for s in splits) + " |")
    for name, rows in splits.items():
        lines += ["", f"## {name}", "", "| method | " + " | ".join(label for _, label in DETAIL_COLUMNS) + " |",
                  "|---" * (len(DETAIL_COLUMNS) + 1) + "|"]
        for method, row in rows.items():
            lines.append(f"| {method} | " + " | ".join(_cell(row.get(key)) for key, _ in DETAIL_COLUMNS) + " |")
        first = next(iter(rows.values()))
        if "n_identity_<50%" in first:
            bins = ("<50%", "50-80%", ">=80%")
            lines += ["", "F1 by identity to the nearest training sequence: " + ", ".join(
                f"{b} n={first['n_identity_' + b]}" for b in bins), "",
                "| method | " + " | ".join(bins) + " |", "|---" * 4 + "|"]
            for method, row in rows.items():
                lines.append(f"| {method} | " + " | ".join(_cell(row.get(f"f1_identity_{b}")) for b in bins) + " |")
        keys = [k for k in first if k.startswith("f1_len_") and first["n_" + k.removeprefix("f1_")]]
        if keys:
            labels = [f"{k.removeprefix('f1_len_').replace('_', '-')} nt (n={first['n_' + k.removeprefix('f1_')]})" for k in keys]
            lines += ["", "F1 by length:", "", "| method | " + " | ".join(labels) + " |", "|---" * (len(keys) + 1) + "|"]
            for method, row in rows.items():
                lines.append(f"| {method} | " + " | ".join(_cell(row.get(k)) for k in keys) + " |")
    if report.get("comparisons"):
        lines += ["", "## Paired comparisons (strict F1 per sequence; 95 % interval and two-sided p from a paired "
                  "bootstrap over the sequences, 2,000 resamples)", "",
                  "| comparison | set | difference | 95 % interval | p | n |", "|---|---|---|---|---|---|"]
        for label, per_set in report["comparisons"].items():
            for name, entry in per_set.items():
                lines.append(f"| {label} | {name} | {entry['difference']:+.4f} | [{entry['ci_low']:+.4f}, "
                             f"{entry['ci_high']:+.4f}] | {entry['p_bootstrap']:.3f} | {entry['n_sequences']} |")
    if report["timing"]:
        names = list(report["models"])
        jobs = report.get("timing_jobs", 1)
        lines += ["", f"## Seconds per sequence ({report['machine']}; whole predict with {jobs} prior-channel "
                  "job(s) vs ViennaRNA's partition function; wall, and CPU of all processes)", "",
                  "| length | ViennaRNA pf wall | CPU | " + " | ".join(f"{n} wall | ×pf | CPU | ×pf" for n in names) + " |",
                  "|---" * (3 + 4 * len(names)) + "|"]
        for row in report["timing"]:
            cells = [
                f"{row[f'{n}_seconds']:.3f} | {row[f'{n}_over_vienna_pf']:.2f} | "
                + (f"{row[f'{n}_cpu_seconds']:.3f} | {row[f'{n}_cpu_over_vienna_pf']:.2f}" if f"{n}_cpu_seconds" in row else "— | —")
                for n in names
            ]
            vienna_cpu = row.get("vienna_pf_cpu_seconds")
            lines.append(f"| {row['length']} | {row['vienna_pf_seconds']:.3f} | {_cell(vienna_cpu)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=DIR or DIR of a pair model (repeatable).")
    parser.add_argument("--splits", nargs="+", required=True, help="dataset/split[@max_length], e.g. bprna/TS0.")
    parser.add_argument("--decoders", nargs="*", default=None, help="Decoders to run each model with (default: its own).")
    parser.add_argument("--data-root", default=str(REPO_ROOT / "runs" / "ss_datasets"), help="ss-dataset build directory.")
    parser.add_argument("--baselines-dir", default=str(DEFAULT_BASELINES), help="Stored predictions of other tools.")
    parser.add_argument("--identity-to", default=None, help="Training splits (comma-separated) for F1 by identity.")
    parser.add_argument("--out", required=True, help="Output directory for eval.json and eval.md.")
    parser.add_argument("--limit", type=int, default=None, help="Evaluate only the first N records of each split.")
    parser.add_argument("--batch-tokens", type=int, default=4096, help="Padded tokens per inference batch.")
    parser.add_argument("--threads", type=int, default=1, help="MMseqs2 threads.")
    parser.add_argument("--prior-cache-dir", default=None,
                        help="Cache of prior channels shared by the models (default: a temporary folder per run).")
    parser.add_argument("--no-vienna", action="store_true", help="Skip the ViennaRNA row.")
    parser.add_argument("--compare", nargs=2, action="append", metavar=("A", "B"),
                        help="Paired comparison A − B of two methods (names as in the table; repeatable).")
    parser.add_argument("--timing-lengths", type=int, nargs="*", default=[100, 500, 1000], help="Lengths to time.")
    parser.add_argument("--timing-repeats", type=int, default=3, help="Timed runs per length (median).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random timing sequences.")
    parser.add_argument("--jobs", type=int, default=available_cores(),
                        help="Prior-channel processes of the timed predictions (default: as ssrlm predict, the cores available).")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")
    if args.jobs < 1:
        parser.error("--jobs must be positive")
    if any(length < 1 for length in args.timing_lengths) or args.timing_repeats < 1:
        parser.error("--timing-lengths and --timing-repeats must be positive")
    try:
        check_comparisons(args)
        with tempfile.TemporaryDirectory(prefix="ssrlm-priors-") as scratch:
            report = evaluate(args, args.prior_cache_dir or scratch)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    (out / "eval.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
