"""The paper's Table 3 (8M row): plain MLM vs span masking (SM) vs structure-aware span masking (SSM).

For every seed and masking strategy, with equal tokens and everything else equal:

1. pre-train ``ssrlm-8m`` with ``train_mlm.py --masking {mlm,sm,ssm}`` on a corpus made by
   ``data_scripts/prepare_pretraining.py`` (built with ``--exclude`` on every test split used here);
2. fine-tune it on bpRNA TR0 with ``finetune_ss.py`` (VL0 picks the checkpoint and the threshold);
3. fine-tune that model on SPOT-RNA PDB TR1 (``--init_from``; VL1 for checkpoint and threshold);
4. evaluate both with ``benchmarks/eval_ss.py`` on bpRNA TS0 and SPOT-RNA PDB TS1 + TS2.

Each step is skipped when its output already exists, so an interrupted run resumes. The budget
(steps, rows per step) is an argument: the defaults fit a 2-core CPU in about 20 minutes per
strategy and are far below the paper's; the table states the budget next to the numbers.

    python benchmarks/ablation.py --corpus runs/corpus_12k --ss-data runs/ss_datasets --out runs/ablation
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
    common_train = ["--seed", str(seed), "--report_to", "none", "--save_total_limit", "1"]
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
        "--per_device_train_batch_size", "2", "--learning_rate", "1e-4", "--weight_decay", "0.01",
        "--lr_scheduler_type", "cosine", "--eval_strategy", "steps", "--save_strategy", "steps",
        "--max_eval_samples", str(args.max_eval_samples), *common_train,
    ]
    bprna = [
        *finetune, "--backbone", str(root / "mlm"), "--train_split", "bprna/TR0", "--eval_split", "bprna/VL0",
        "--max_steps", str(args.bprna_steps), "--eval_steps", str(args.bprna_steps // 2),
        "--save_steps", str(args.bprna_steps // 2), "--warmup_steps", str(max(1, args.bprna_steps // 10)),
        "--output_dir", str(root / "bprna"),
    ]
    pdb = [
        *finetune, "--init_from", str(root / "bprna"), "--train_split", "spot_rna_pdb/TR1",
        "--eval_split", "spot_rna_pdb/VL1", "--max_steps", str(args.pdb_steps),
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


def summarize(args: argparse.Namespace, seeds: list[int], wall: dict) -> str:
    """Markdown table: mean strict F1 (± spread over seeds) per strategy, with the paper's figures."""
    lines = [
        f"Budget per strategy and seed: pre-training {args.pretrain_steps} steps × {args.rows_per_step} rows × 1024 "
        f"tokens = {args.pretrain_steps * args.rows_per_step * 1024:,} token slots; bpRNA fine-tuning "
        f"{args.bprna_steps} steps, PDB fine-tuning {args.pdb_steps} steps (batch 2, ≤ {args.max_length} nt); "
        f"seeds {seeds}; {args.hardware}.",
        "",
        "| masking | bpRNA TS0 F1 (strict) | PDB TS1+TS2 F1 (strict) | paper bpRNA | paper PDB | wall time (s) |",
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
            f"{PAPER_F1[strategy][1]:.3f} | {sum(wall.get((strategy, s), 0.0) for s in seeds):,.0f} |"
        )
    first = args.out / f"seed{seeds[0]}" / "ssm"
    lines.append(
        f"| ViennaRNA (same sequences) | {vienna_f1(first / 'eval_bprna' / 'eval.json', ['bprna/TS0']):.3f} | "
        f"{vienna_f1(first / 'eval_pdb' / 'eval.json', ['spot_rna_pdb/TS1', 'spot_rna_pdb/TS2']):.3f} | | | |"
    )
    return "\n".join(lines) + "\n"


def _mean_spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


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
    parser.add_argument("--pdb-steps", type=int, default=40)
    parser.add_argument("--max-length", type=int, default=200, help="fine-tuning crop/skip length (nt)")
    parser.add_argument("--max-eval-samples", type=int, default=100, help="validation subset per evaluation")
    parser.add_argument("--hardware", default="2-core CPU, fp32")
    args = parser.parse_args(argv)

    wall: dict[tuple[str, int], float] = {}
    for seed in args.seeds:
        for strategy in STRATEGIES:
            for done, command in steps_for(args, strategy, seed):
                if done.exists():
                    continue
                print(f"[{strategy} seed {seed}] {command[1]} …", flush=True)
                wall[(strategy, seed)] = wall.get((strategy, seed), 0.0) + run(command, args.out / f"seed{seed}" / strategy / "log.txt")
    table = summarize(args, args.seeds, wall)
    (args.out / "ablation.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
