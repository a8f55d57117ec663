"""``scripts/export_shipped_model.py``: release folders whose recipe comes from the runs' own records.

A tiny real chain is trained (corpus → ``train_mlm.py`` → ``finetune_ss.py``) and both runs are
exported, so the test breaks if a training script stops recording what the cards show.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from script_loader import load_script
from ss_fixture import write_tiny_ss_datasets
from transformers import AutoModelForMaskedLM

from modeling_ssrlm import SSRLMForMaskedLM, SSRLMForPairPrediction

prepare_pretraining = load_script("data_scripts/prepare_pretraining.py")
train_mlm = load_script("train_mlm.py")
finetune_ss = load_script("finetune_ss.py")
export = load_script("scripts/export_shipped_model.py")

ROW_LENGTH = 128


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """(pre-training run, pair model fine-tuned from it), both tiny and two steps long."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    for name, alphabet in (("ncrna.fa", "ACGU"), ("other.fa", "ACGT")):
        records = [f">{name[:2]}{i}\n{''.join(rng.choice(list(alphabet), rng.integers(30, 60)))}\n" for i in range(8)]
        (root / name).write_text("".join(records))
    corpus = root / "corpus"
    assert prepare_pretraining.main(["--ncrna", str(root / "ncrna.fa"), "--other", str(root / "other.fa"), "--out", str(corpus)]) == 0
    pretrained = root / "pretrain"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_mlm.main([
            "--dataset_dir", str(corpus), "--config_overrides", "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
            "--masking", "sm", "--pack_to_length", str(ROW_LENGTH), "--max_length", str(ROW_LENGTH),
            "--per_device_train_batch_size", "2", "--max_steps", "2", "--learning_rate", "1e-3", "--seed", "3",
            "--validation_fraction", "0", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
            "--dataloader_pin_memory", "false",
            "--output_dir", str(pretrained),
        ])  # fmt: skip
        finetuned = root / "pair"
        assert finetune_ss.main([
            "--data_root", str(write_tiny_ss_datasets(root / "ss")), "--train_split", "tiny/train",
            "--eval_split", "tiny/valid", "--backbone", str(pretrained),
            "--config_overrides", "pair_hidden_channels=4,pair_num_blocks=1", "--max_steps", "2",
            "--dataloader_pin_memory", "false", "--disable_tqdm", "true", "--report_to", "none",
            "--output_dir", str(finetuned),
        ]) == 0  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return pretrained, finetuned


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


def test_pre_training_run_exports_as_a_fill_mask_folder(runs, tmp_path):
    pretrained, _ = runs
    out = tmp_path / "ssrlm-tiny"
    export.main([str(pretrained), str(out)])

    recipe = json.loads((out / "recipe.json").read_text())
    assert (recipe["task"], recipe["masking"], recipe["seed"]) == ("masked-language-modeling", "sm", 3)
    assert (recipe["steps"], recipe["tokens"], recipe["batch"]) == (2, 2 * 2 * ROW_LENGTH, "2 rows × 128 tokens")
    assert recipe["datasets"] == ["ncrna.fa", "other.fa"]  # the corpus's sources, from its summary.json
    assert recipe["corpus_summary"]["written"] == 16 and recipe["folder"] == str(pretrained)
    assert recipe["hardware"] == "2 CPU cores (shared), fp32" and "final_eval" not in recipe  # no validation split
    assert recipe["command"].startswith("python train_mlm.py --dataset_dir ")

    card = (out / "README.md").read_text()
    assert front_matter(card)["pipeline_tag"] == "fill-mask"
    assert "SM: span masking only" in card and recipe["command"] in card
    reloaded = AutoModelForMaskedLM.from_pretrained(out)
    assert isinstance(reloaded, SSRLMForMaskedLM)
    for name, tensor in SSRLMForMaskedLM.from_pretrained(pretrained).state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name


def test_fine_tuned_run_exports_with_its_whole_chain(runs, tmp_path):
    pretrained, finetuned = runs
    out = tmp_path / "ssrlm-tiny-ss"
    export.main([str(finetuned), str(out), "--command", "bash build.sh", "--limitation", "It pairs repeats."])

    recipe = json.loads((out / "recipe.json").read_text())
    assert (recipe["task"], recipe["datasets"], recipe["steps"]) == ("secondary-structure", ["tiny/train"], 2)
    assert recipe["limitations"] == ["It pairs repeats."]
    card = (out / "README.md").read_text()
    assert "- It pairs repeats." in card and "`limitations`" not in card  # a limitation, not a recipe row
    [stage] = recipe["fine_tuning_stages"]
    assert stage["from"] == str(pretrained) and stage["config_overrides"] == "pair_hidden_channels=4,pair_num_blocks=1"
    assert recipe["masking"] == "sm" and recipe["command"] == "bash build.sh"
    assert recipe["pre_training"]["folder"] == str(pretrained) and recipe["pre_training"]["tokens"] == 2 * 2 * ROW_LENGTH
    pre_training_time = json.loads((pretrained / "pretraining_summary.json").read_text())["train_metrics"]["train_runtime"]
    fine_tuning_time = json.loads((finetuned / "finetune_summary.json").read_text())["train_metrics"]["train_runtime"]
    assert recipe["wall_time_s"] == round(fine_tuning_time) + round(pre_training_time)

    assert front_matter((out / "README.md").read_text())["pipeline_tag"] == "token-classification"
    assert SSRLMForPairPrediction.from_pretrained(out).config.pair_hidden_channels == 4
    assert not (out / "eval.json").exists()  # none was given


def test_a_run_continued_from_a_released_folder_keeps_the_released_stages(runs, tmp_path):
    _, finetuned = runs
    released = tmp_path / "ssrlm-tiny-ss"
    export.main([str(finetuned), str(released), "--command", "bash build.sh"])
    continued = tmp_path / "continued"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert finetune_ss.main([
            "--data_root", str(write_tiny_ss_datasets(tmp_path / "ss")), "--train_split", "tiny/train",
            "--eval_split", "tiny/valid", "--init_from", str(released), "--max_steps", "3",
            "--dataloader_pin_memory", "false", "--disable_tqdm", "true", "--report_to", "none",
            "--output_dir", str(continued),
        ]) == 0  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "ssrlm-tiny-ss-more"
    export.main([str(continued), str(out), "--command", "bash more.sh"])

    recipe = json.loads((out / "recipe.json").read_text())
    first = json.loads((released / "recipe.json").read_text())
    assert recipe["steps"] == 2 + 3 and recipe["command"] == "bash build.sh && bash more.sh"
    assert [stage["steps"] for stage in recipe["fine_tuning_stages"]] == [2, 3]
    assert recipe["fine_tuning_stages"][1]["from"] == str(released)
    continued_time = json.loads((continued / "finetune_summary.json").read_text())["train_metrics"]["train_runtime"]
    assert recipe["wall_time_s"] == first["wall_time_s"] + round(continued_time)


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        export.main([str(tmp_path), str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "neither finetune_summary.json nor pretraining_summary.json" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
