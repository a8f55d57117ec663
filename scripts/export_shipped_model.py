#!/usr/bin/env python
"""Export a training run as a release folder: weights, tokenizer, recipe, evaluation, model card.

``RUN`` is either a pre-training folder (``train_mlm.py`` output, with ``pretraining_summary.json``)
or a fine-tuned pair model (``finetune_ss.py`` output, with ``finetune_summary.json``). The recipe
is assembled from these records alone, following a pair model's chain of ``init_from`` /
``backbone`` folders back to its pre-training run, so the card (``model_cards/generate_card.py``)
shows only what was recorded; nothing is typed by hand.

    python scripts/export_shipped_model.py runs/pretrain_8m_ssm models/ssrlm-8m
    python scripts/export_shipped_model.py runs/ship/ssrlm-8m-ss-bprna-stage3 models/ssrlm-8m-ss \\
        --eval runs/ship/eval_bprna/eval.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from transformers import AutoModelForMaskedLM

from modeling_ssrlm import SSRLMForPairPrediction, SSRLMTokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout (as scripts/push_to_hub.py does)
    sys.path.insert(0, str(REPO_ROOT))

from model_cards.generate_card import write_card  # noqa: E402

PRETRAINING_SUMMARY, FINETUNE_SUMMARY = "pretraining_summary.json", "finetune_summary.json"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def display_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (as the training scripts record paths)."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def hardware(summary: dict, default: str) -> str:
    """``2 CPU cores (shared), fp32`` from a pre-training summary's device and precision."""
    device = summary.get("device", "cpu")
    processes = summary.get("processes", 1)
    where = default if device == "cpu" and processes == 1 else f"{processes} × {device}"
    return f"{where}, {summary.get('precision', 'fp32')}"


def read_corpus_summary(dataset_dir: str) -> dict | None:
    """The ``summary.json`` of a ``prepare_pretraining.py`` corpus, if it is there."""
    root = REPO_ROOT / dataset_dir
    root = root.parent if root.name == "train" else root
    return read_json(root / "summary.json") if (root / "summary.json").is_file() else None


def pretraining_recipe(run: Path, default_hardware: str) -> dict:
    """The recipe of a ``train_mlm.py`` run, from its ``pretraining_summary.json``."""
    summary = read_json(run / PRETRAINING_SUMMARY)
    corpus = read_corpus_summary(summary["data"]["dataset_dir"]) or {}
    counts = corpus.get("total", {})
    recipe = {
        "task": "masked-language-modeling",
        "preset": summary["model"]["preset"],
        "masking": summary["data"]["masking"],
        "datasets": sorted(corpus.get("sources", {})) or None,  # the corpus's source files
        "corpus_summary": {
            "folder": summary["data"]["dataset_dir"],
            **{key: counts[key] for key in ("read", "excluded", "clustered_away", "written", "folded") if key in counts},
        },
        "steps": summary["global_steps"],
        "tokens": summary["token_slots"],
        "batch": f"{summary['rows_per_step']} rows × {summary['data']['pack_to_length']} tokens",
        "learning_rate": summary["learning_rate"],
        "seed": summary["seed"],
        "hardware": hardware(summary, default_hardware),
        "wall_time_s": round(summary["train_metrics"]["train_runtime"]),
        "final_train_loss": round(summary["train_metrics"]["train_loss"], 4),
        "final_eval": {
            key.removeprefix("eval_"): round(value, 4)
            for key, value in (summary.get("eval_metrics") or {}).items()
            if key in ("eval_loss", "eval_masked_accuracy", "eval_masked_accuracy_sm", "eval_masked_accuracy_ssm",
                       "eval_masked_accuracy_mlm")
        } or None,
        "folder": display_path(run),
        "note": summary.get("note"),
        "command": summary["command"],
    }
    return {key: value for key, value in recipe.items() if value is not None}


def finetune_chain(run: Path) -> tuple[list[dict], Path | None]:
    """Fine-tuning summaries from the first stage to ``run``, and the pre-training folder (if any)."""
    stages = []
    while (run / FINETUNE_SUMMARY).is_file():
        summary = read_json(run / FINETUNE_SUMMARY)
        stages.insert(0, {"output_dir": str(run), **summary})
        parent = summary["model"].get("init_from") or summary["model"].get("backbone")
        run = REPO_ROOT / parent if parent else None
        if run is None or not run.is_dir():
            return stages, None
    return stages, run


def train_batch_size(stage: dict) -> int | None:
    """Sequences per optimizer step of a fine-tuning stage, from its summary or its ``trainer_state.json``."""
    if "training" in stage:
        return stage["training"]["train_batch_size"]
    for folder in (stage["output_dir"], stage.get("best_checkpoint")):
        state = REPO_ROOT / folder / "trainer_state.json" if folder else None
        if state is not None and state.is_file():
            return read_json(state)["train_batch_size"]
    return None


def finetune_recipe(run: Path, default_hardware: str, command: str) -> dict:
    """The recipe of a ``finetune_ss.py`` run, its earlier stages and its pre-training."""
    stages, pretrained = finetune_chain(run)
    recipe: dict = {
        "task": "secondary-structure",
        "datasets": sorted({stage["data"]["train_split"] for stage in stages}),
        "steps": sum(stage["global_steps"] for stage in stages),
        "batch": sorted({size for size in map(train_batch_size, stages) if size is not None}),
        "hardware": f"{default_hardware}, fp32",
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
        "command": command,
    }
    released = read_json(pretrained / "recipe.json") if pretrained is not None and (pretrained / "recipe.json").is_file() else None
    if released is not None and released.get("task") == "secondary-structure":
        # continued from a released pair model: its recorded stages come first
        recipe["datasets"] = sorted(set(released["datasets"]) | set(recipe["datasets"]))
        recipe["steps"] += released["steps"]
        recipe["batch"] = sorted(set(released["batch"]) | set(recipe["batch"]))
        recipe["wall_time_s"] += released["wall_time_s"]
        recipe["fine_tuning_stages"] = released["fine_tuning_stages"] + recipe["fine_tuning_stages"]
        recipe["command"] = f"{released['command']} && {command}"
        return recipe
    if pretrained is not None and (pretrained / PRETRAINING_SUMMARY).is_file():
        pre_training = pretraining_recipe(pretrained, default_hardware)
        recipe["preset"] = pre_training["preset"]
        recipe["masking"] = pre_training["masking"]
        recipe["pre_training"] = {
            key: pre_training[key] for key in ("folder", "tokens", "steps", "final_train_loss", "wall_time_s", "command")
        }
        recipe["wall_time_s"] += pre_training["wall_time_s"]
    return recipe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="train_mlm.py or finetune_ss.py output folder")
    parser.add_argument("out", type=Path, help="release folder to (re)write")
    parser.add_argument("--eval", type=Path, default=None, help="benchmarks/eval_ss.py eval.json of a pair model")
    parser.add_argument("--limitation", action="append", default=[],
                        help="a known limitation found while evaluating (repeatable): recipe.json and the card's limitations")
    parser.add_argument("--calibration", type=Path, default=None,
                        help="benchmarks/calibration.py calibration.json (and its reliability.png) of a pair model")
    parser.add_argument("--hardware", default="2 CPU cores (shared)", help="where a single-process CPU run ran")
    parser.add_argument("--command", default="bash scripts/build_shipped_model.sh",
                        help="the command that reproduces a fine-tuned model (its stages have no single command)")
    args = parser.parse_args(argv)

    run = args.run.resolve()
    if (run / FINETUNE_SUMMARY).is_file():
        model = SSRLMForPairPrediction.from_pretrained(run)
        recipe = finetune_recipe(run, args.hardware, args.command)
    elif (run / PRETRAINING_SUMMARY).is_file():
        model = AutoModelForMaskedLM.from_pretrained(run)
        recipe = pretraining_recipe(run, args.hardware)
    else:
        parser.error(f"{args.run} has neither {FINETUNE_SUMMARY} nor {PRETRAINING_SUMMARY}: not a training run")
    if args.limitation:
        recipe["limitations"] = args.limitation
    if args.out.exists():
        shutil.rmtree(args.out)
    model.save_pretrained(args.out)
    SSRLMTokenizer().save_pretrained(args.out)
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    if args.eval is not None:
        shutil.copyfile(args.eval, args.out / "eval.json")
    if args.calibration is not None:
        shutil.copyfile(args.calibration, args.out / "calibration.json")
        shutil.copyfile(args.calibration.with_name("reliability.png"), args.out / "reliability.png")
    print(write_card(args.out))


if __name__ == "__main__":
    main()
