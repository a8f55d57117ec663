"""The paper's Table 3 (8M row): plain MLM vs span masking (SM) vs structure-aware span masking (SSM).

Superseded by ``benchmarks/masking_ablation.py`` (a 1M preset, a token budget that leaves the
unigram plateau, consensus structures, probes for every seed, paired statistics, learning curves);
this script stays as the record of the first attempt (README: every backbone ended at masked-LM loss
1.370–1.375, so its table reads seed noise).

For every seed and masking strategy, with equal tokens and everything else equal:

1. pre-train ``ssrlm-8m`` with ``train_mlm.py --masking {mlm,sm,ssm}`` on a corpus made by
   ``data_scripts/prepare_pretraining.py`` (built with ``--exclude`` on every test split used here);
2. fine-tune it on bpRNA TR0 with ``finetune_ss.py`` (VL0 picks the checkpoint and the threshold);
3. fine-tune that model on SPOT-RNA PDB TR1 (``--init_from``; VL1 for checkpoint and threshold);
4. evaluate both with ``benchmarks/eval_ss.py`` on bpRNA TS0 and SPOT-RNA PDB TS1 + TS2.

Each step is skipped when its output already exists, so an interrupted run resumes; the wall time
of every finished step is kept in ``timings.json`` beside it, so the table is complete after a
resume. The budget (steps, rows per step) is an argument: the defaults are a smoke test far below
the paper's; the table states the budget next to the numbers. ``--bf16`` trains under bfloat16
autocast (on a CPU with AVX512-BF16 it is about 1.6x faster than fp32 for the 8M model).

    python benchmarks/ablation.py --corpus runs/corpus_12k --ss-data runs/ss_datasets --out runs/ablation_cpu \
        --seeds 0 1 --pretrain-steps 200 --rows-per-step 8 --bprna-steps 1500 --pdb-steps 300 \
        --max-eval-samples 150 --bf16     # the README's table (benchmarks/results/ablation.md), ~2 h on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("mlm", "sm", "ssm")
PAPER_F1 = {"mlm": (0.652, 0.695), "sm": (0.622, 0.693), "ssm": (0.668, 0.707)}


def precision_flags(args: argparse.Namespace) -> list[str]:
    """Trainer flags for ``--bf16``: bfloat16 autocast, on the CPU when there is no CUDA device."""
    if not args.bf16:
        return []
    import torch

    return ["--bf16"] if torch.cuda.is_available() else ["--bf16", "--use_cpu"]


def run(command: list[str], log: Path) -> float:
    """Run one step, appending its output to ``log``; return the wall time in seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        subprocess.run(command, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def steps_for(args: argparse.Namespace, strategy: str, seed: int) -> list[tuple[Path, list[str]]]:
    """(output that marks the step done, command) for the four steps of one strategy and seed."""
    python = sys.executable
    root = args.out / f"seed{seed}" / strategy
    common_train = ["--seed", str(seed), "--report_to", "none", "--save_total_limit", "1", *precision_flags(args)]
    pretrain = [
        python, "train_mlm.py", "--dataset_dir", str(args.corpus), "--preset", "ssrlm-8m",
        "--masking", strategy, "--pack_to_length", "1024", "--max_steps", str(args.pretrain_steps),
        "--per_device_train_batch_size", str(args.rows_per_step), "--learning_rate", str(args.pretrain_lr),
        "--warmup_steps", str(max(1, args.pretrain_steps // 20)), "--weight_decay", "0.01",
        "--logging_steps", "10", "--save_steps", str(args.pretrain_steps), "--output_dir", str(root / "mlm"),
        *common_train,
    ]
    finetune = [
        python, "finetune_ss.py", "--data_root", str(args.ss_data), "--max_length", str(args.max_length),
        "--per_device_train_batch_size", "2", "--weight_decay", "0.01", "--lr_scheduler_type", "cosine",
        "--eval_strategy", "steps", "--save_strategy", "steps", "--max_eval_samples", str(args.max_eval_samples),
        "--logging_steps", "50", *common_train,
    ]
    bprna = [
        *finetune, "--backbone", str(root / "mlm"), "--train_split", "bprna/TR0", "--eval_split", "bprna/VL0",
        "--learning_rate", str(args.bprna_lr), "--config_overrides", args.config_overrides,
        "--max_steps", str(args.bprna_steps), "--eval_steps", str(args.bprna_steps // 2),
        "--save_steps", str(args.bprna_steps // 2), "--warmup_steps", str(max(1, args.bprna_steps // 10)),
        "--output_dir", str(root / "bprna"),
    ]
    pdb = [
        *finetune, "--init_from", str(root / "bprna"), "--train_split", "spot_rna_pdb/TR1",
        "--eval_split", "spot_rna_pdb/VL1", "--learning_rate", str(args.pdb_lr), "--max_steps", str(args.pdb_steps),
        "--eval_steps", str(args.pdb_steps // 2), "--save_steps", str(args.pdb_steps // 2),
        "--warmup_steps", str(max(1, args.pdb_steps // 10)), "--output_dir", str(root / "pdb"),
    ]
    evaluate = [python, "benchmarks/eval_ss.py", "--data-root", str(args.ss_data), "--timing-lengths"]
    return [
        (root / "mlm" / "config.json", pretrain),
        (root / "bprna" / "config.json", bprna),
        (root / "pdb" / "config.json", pdb),
        (root / "eval_bprna" / "eval.json", [*evaluate, "--model", str(root / "bprna"), "--splits", "bprna/TS0", "--out", str(root / "eval_bprna")]),
        (root / "eval_pdb" / "eval.json", [*evaluate, "--model", str(root / "pdb"), "--splits", "spot_rna_pdb/TS1", "spot_rna_pdb/TS2", "--out", str(root / "eval_pdb")]),
    ]


def model_f1(eval_file: Path, splits: list[str]) -> float:
    """Mean strict F1 of the model row over ``splits``, weighted by their sequence counts."""
    result = json.loads(eval_file.read_text())
    total, weighted = 0, 0.0
    for split in splits:
        methods = result["splits"][split]
        row = next(metrics for name, metrics in methods.items() if not name.startswith("ViennaRNA"))
        total += row["n_sequences"]
        weighted += row["f1"] * row["n_sequences"]
    return weighted / total


def vienna_f1(eval_file: Path, splits: list[str]) -> float:
    result = json.loads(eval_file.read_text())
    rows = [(m["n_sequences"], m["f1"]) for s in splits for n, m in result["splits"][s].items() if n.startswith("ViennaRNA")]
    return sum(n * f for n, f in rows) / sum(n for n, _ in rows)


def wall_time(root: Path) -> float:
    """Seconds spent on the finished steps of one strategy and seed (from ``timings.json``)."""
    timings = root / "timings.json"
    return sum(json.loads(timings.read_text()).values()) if timings.exists() else 0.0


def record_wall_time(root: Path, step: str, seconds: float) -> None:
    timings = root / "timings.json"
    record = json.loads(timings.read_text()) if timings.exists() else {}
    record[step] = round(seconds, 1)
    timings.write_text(json.dumps(record, indent=1) + "\n")


def summarize(args: argparse.Namespace, seeds: list[int]) -> str:
    """Markdown table: mean strict F1 (± spread over seeds) per strategy, with the paper's figures."""
    precision = "bf16 autocast" if args.bf16 else "fp32"
    lines = [
        f"Budget per strategy and seed: pre-training {args.pretrain_steps} steps × {args.rows_per_step} rows × 1024 "
        f"tokens = {args.pretrain_steps * args.rows_per_step * 1024:,} token slots (lr {args.pretrain_lr}); bpRNA "
        f"fine-tuning {args.bprna_steps} steps (lr {args.bprna_lr}), PDB fine-tuning {args.pdb_steps} steps "
        f"(lr {args.pdb_lr}), batch 2, ≤ {args.max_length} nt, config overrides `{args.config_overrides}`; "
        f"seeds {seeds}; {args.hardware}, {precision}. Wall time is summed over seeds.",
        "",
        "| masking | bpRNA TS0 F1 (strict), mean ± sd (per seed) | PDB TS1+TS2 F1 (strict), mean ± sd (per seed) | paper bpRNA | paper PDB | wall time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for strategy in STRATEGIES:
        bprna, pdb = [], []
        for seed in seeds:
            root = args.out / f"seed{seed}" / strategy
            bprna.append(model_f1(root / "eval_bprna" / "eval.json", ["bprna/TS0"]))
            pdb.append(model_f1(root / "eval_pdb" / "eval.json", ["spot_rna_pdb/TS1", "spot_rna_pdb/TS2"]))
        lines.append(
            f"| {strategy} | {_mean_spread(bprna)} | {_mean_spread(pdb)} | {PAPER_F1[strategy][0]:.3f} | "
            f"{PAPER_F1[strategy][1]:.3f} | {sum(wall_time(args.out / f'seed{s}' / strategy) for s in seeds):,.0f} |"
        )
    first = args.out / f"seed{seeds[0]}" / "ssm"
    lines.append(
        f"| ViennaRNA (same sequences) | {vienna_f1(first / 'eval_bprna' / 'eval.json', ['bprna/TS0']):.3f} | "
        f"{vienna_f1(first / 'eval_pdb' / 'eval.json', ['spot_rna_pdb/TS1', 'spot_rna_pdb/TS2']):.3f} | | | |"
    )
    return "\n".join(lines) + "\n"


def _mean_spread(values: list[float]) -> str:
    """``mean ± sd (per seed)``: the per-seed values show when the spread is one outlying run."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    seeds = ", ".join(f"{value:.3f}" for value in values)
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} ({seeds})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="prepare_pretraining.py output folder")
    parser.add_argument("--ss-data", type=Path, required=True, help="build_ss_datasets.py output folder")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--pretrain-steps", type=int, default=60)
    parser.add_argument("--rows-per-step", type=int, default=4, help="packed 1024-token rows per step")
    parser.add_argument("--pretrain-lr", type=float, default=1e-3)
    parser.add_argument("--bprna-steps", type=int, default=200)
    parser.add_argument("--bprna-lr", type=float, default=5e-4)
    parser.add_argument("--pdb-steps", type=int, default=40)
    parser.add_argument("--pdb-lr", type=float, default=2e-4)
    parser.add_argument(
        "--config-overrides", default="pair_pos_weight=5,pair_canonical_only=True",
        help="pair-head config overrides for fine-tuning (the shipped model's recipe)",
    )
    parser.add_argument("--bf16", action="store_true", help="train under bfloat16 autocast")
    parser.add_argument("--max-length", type=int, default=200, help="fine-tuning crop/skip length (nt)")
    parser.add_argument("--max-eval-samples", type=int, default=100, help="validation subset per evaluation")
    parser.add_argument("--hardware", default="2-core CPU")
    args = parser.parse_args(argv)

    for seed in args.seeds:
        for strategy in STRATEGIES:
            root = args.out / f"seed{seed}" / strategy
            for done, command in steps_for(args, strategy, seed):
                if done.exists():
                    continue
                print(f"[{strategy} seed {seed}] {done.parent.name} …", flush=True)
                record_wall_time(root, done.parent.name, run(command, root / "log.txt"))
    table = summarize(args, args.seeds)
    (args.out / "ablation.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
