#!/usr/bin/env python
"""Export a fine-tuned pair model as a release folder: weights, tokenizer, recipe, evaluation, card.

The recipe is assembled from the run records the training scripts left behind, following the
chain of ``init_from`` / ``backbone`` folders back to pre-training: each ``finetune_summary.json``
(``finetune_ss.py``) and the pre-training folder's ``train_results.json`` and ``command.sh``
(``train_mlm.py``). Nothing is typed by hand, so the card (``model_cards/generate_card.py``) shows
only what was recorded.

    python scripts/export_shipped_model.py runs/ship/ssrlm-8m-ss-bprna-stage3 models/ssrlm-8m-ss \\
        --eval runs/ship/eval_bprna/eval.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "model_cards"))

from generate_card import write_card  # noqa: E402

from modeling_ssrlm import SSRLMForPairPrediction, SSRLMTokenizer  # noqa: E402


def run_chain(run: Path) -> tuple[list[dict], Path | None]:
    """Fine-tuning summaries from the first stage to ``run``, and the pre-training folder (if any)."""
    stages = []
    while (run / "finetune_summary.json").is_file():
        summary = json.loads((run / "finetune_summary.json").read_text())
        stages.insert(0, {"output_dir": str(run), **summary})
        parent = summary["model"].get("init_from") or summary["model"].get("backbone")
        run = REPO_ROOT / parent if parent else None
        if run is None or not run.is_dir():
            return stages, None
    return stages, run


def build_recipe(run: Path) -> dict:
    """The recipe record of ``run`` (see ``model_cards/README.md`` for the fields)."""
    stages, pretrained = run_chain(run)
    recipe: dict = {
        "task": "secondary-structure",
        "preset": "ssrlm-8m",
        "datasets": sorted({stage["data"]["train_split"] for stage in stages}),
        "steps": sum(stage["global_steps"] for stage in stages),
        "batch": 2,
        "hardware": "2 CPU cores (shared), fp32",
        "wall_time_s": round(sum(stage["train_metrics"]["train_runtime"] for stage in stages)),
        "fine_tuning_stages": [
            {
                "from": stage["model"].get("init_from") or stage["model"].get("backbone"),
                "config_overrides": stage["model"].get("config_overrides"),
                "steps": stage["global_steps"],
                "best_checkpoint": stage["best_checkpoint"],
                "validation": f"{stage['data']['eval_split']} (first {stage['data']['eval_records']})",
                "threshold": stage["threshold"],
            }
            for stage in stages
        ],
        "command": "bash scripts/build_shipped_model.sh",
    }
    if pretrained is not None and (pretrained / "train_results.json").is_file():
        results = json.loads((pretrained / "train_results.json").read_text())
        recipe["masking"] = "ssm"
        recipe["pre_training"] = {
            "folder": str(pretrained.relative_to(REPO_ROOT)),
            "train_loss": round(results["train_loss"], 4),
            "wall_time_s": round(results["train_runtime"]),
            "command": (pretrained / "command.sh").read_text().strip() if (pretrained / "command.sh").is_file() else None,
        }
        recipe["wall_time_s"] += round(results["train_runtime"])
    return recipe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="fine-tuned pair-model folder (finetune_ss.py output)")
    parser.add_argument("out", type=Path, help="release folder to (re)write")
    parser.add_argument("--eval", type=Path, required=True, help="benchmarks/eval_ss.py eval.json of this model")
    args = parser.parse_args(argv)

    if args.out.exists():
        shutil.rmtree(args.out)
    model = SSRLMForPairPrediction.from_pretrained(args.run)
    model.save_pretrained(args.out)
    SSRLMTokenizer().save_pretrained(args.out)
    (args.out / "recipe.json").write_text(json.dumps(build_recipe(args.run.resolve()), indent=2) + "\n")
    shutil.copyfile(args.eval, args.out / "eval.json")
    print(write_card(args.out))


if __name__ == "__main__":
    main()
