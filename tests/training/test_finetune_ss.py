"""Tests of finetune_ss.py: two training steps on a tiny parquet fixture, then load and predict."""

from __future__ import annotations

import json

import pytest
from script_loader import load_script
from ss_fixture import write_tiny_ss_datasets

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction
from modeling_ssrlm.training.finetuning import build_model
from modeling_ssrlm.training.overrides import parse_config_overrides
from modeling_ssrlm.training.thresholds import DEFAULT_THRESHOLD_GRID
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer

finetune_ss = load_script("finetune_ss.py")

TINY_OVERRIDES = (
    "hidden_size=16,num_hidden_layers=1,num_attention_heads=2,intermediate_size=32,"
    "pair_hidden_channels=4,pair_num_blocks=1,pair_pos_weight=3"
)


def run(tmp_path, *extra):
    data_root = write_tiny_ss_datasets(tmp_path / "data")
    args = [
        "--data_root", str(data_root), "--train_split", "tiny/train", "--eval_split", "tiny/valid",
        "--config_overrides", TINY_OVERRIDES, "--max_steps", "2", "--output_dir", str(tmp_path / "out"),
        "--dataloader_pin_memory", "false", "--disable_tqdm", "true", *extra,
    ]
    return finetune_ss.main(args)


def test_two_steps_save_a_model_that_loads_and_predicts(tmp_path):
    assert run(tmp_path, "--max_length", "14") == 0
    out = tmp_path / "out"
    model = SSRLMForPairPrediction.from_pretrained(out)
    search = json.loads((out / "threshold_search.json").read_text())
    assert model.config.pair_threshold == search["threshold"]
    assert [float(t) for t in search["f1_by_threshold"]] == list(DEFAULT_THRESHOLD_GRID)
    assert model.config.pair_pos_weight == 3.0 and model.config.pair_hidden_channels == 4
    summary = json.loads((out / "finetune_summary.json").read_text())
    assert summary["global_steps"] == 2
    assert {"final_eval_f1", "final_eval_f1_tuned", "final_eval_threshold_tuned"} <= set(summary["final_eval_metrics"])
    assert summary["data"]["train_records"] == 2  # --max_length 14 skips the two 20-nt records
    assert SSRLMTokenizer.from_pretrained(out)("ACGU")["input_ids"] == [2, 5, 6, 7, 8, 3]
    [prediction] = model.predict(["GGGGAAAACCCC"])
    assert prediction.probabilities.shape == (12, 12)


def test_init_from_continues_from_a_fine_tuned_folder(tmp_path):
    source = SSRLMForPairPrediction(SSRLMConfig.from_preset("ssrlm-8m", **parse_config_overrides(TINY_OVERRIDES)))
    source.config.pair_threshold = 0.9
    source.save_pretrained(tmp_path / "source")
    model = build_model(finetune_ss.ModelArguments(init_from=str(tmp_path / "source"), freeze_backbone=True))
    assert model.config.pair_threshold == 0.9
    assert not any(p.requires_grad for p in model.model.parameters())
    assert all(p.requires_grad for p in model.pair_head.parameters())


def test_training_defaults_follow_the_method():
    _, _, training = finetune_ss.build_parser().parse_args_into_dataclasses(args=[])
    assert (training.num_train_epochs, training.per_device_train_batch_size, training.learning_rate) == (100, 2, 1e-4)
    assert (training.weight_decay, training.warmup_steps, training.lr_scheduler_type.value) == (0.01, 0.1, "cosine")
    assert training.load_best_model_at_end and training.metric_for_best_model == "f1_tuned"
    assert training.train_sampling_strategy == "group_by_length"


@pytest.mark.parametrize(
    "text, message",
    [("pair_num_blocks", "of the form name=value"), ("no_such=1", "has no field"), ("pair_postprocess=maybe", "type bool")],
)
def test_bad_config_overrides_are_rejected(text, message):
    with pytest.raises(ValueError, match=message):
        parse_config_overrides(text)


def test_unknown_split_exits_with_code_2(tmp_path, capsys):
    assert run(tmp_path, "--eval_split", "tiny/nope") == 2
    assert "unknown split 'tiny/nope'" in capsys.readouterr().err


def test_several_splits_load_as_one_and_similar_records_are_excluded(tmp_path):
    from ss_fixture import RECORDS, write_tiny_ss_datasets

    from modeling_ssrlm.training.finetuning import exclude_similar, load_split

    root = write_tiny_ss_datasets(tmp_path / "data")
    joined = load_split(str(root), "tiny/train, tiny/valid", max_length=14)
    short = [record for record in RECORDS if len(record.sequence) <= 14]
    assert len(short) == 2 and joined["id"] == [r.id for r in short] * 2
    everything = load_split(str(root), "tiny/train,tiny/valid")
    fasta = tmp_path / "test.fa"
    fasta.write_text(">t\nGGGCGCAAGCCUAAACUAGU\n")  # the "mixed" record
    kept, dropped = exclude_similar(everything, [str(fasta)])
    assert dropped == 2 and "mixed" not in kept["id"] and len(kept) == 2 * len(RECORDS) - 2
    assert exclude_similar(joined, []) == (joined, 0)


def test_list_valued_overrides_and_prior_channels_train(tmp_path):
    overrides = parse_config_overrides('pair_prior_channels=["bpp:turner2004","mfe:turner2004"],pair_num_blocks=1')
    assert overrides == {"pair_prior_channels": ("bpp:turner2004", "mfe:turner2004"), "pair_num_blocks": 1}
    code = run(
        tmp_path, "--config_overrides", TINY_OVERRIDES + ',pair_prior_channels=["bpp:turner2004"]',
        "--prior_cache_dir", str(tmp_path / "cache"), "--prior_workers", "1",
    )
    assert code == 0
    model = SSRLMForPairPrediction.from_pretrained(tmp_path / "out")
    assert list(model.config.pair_prior_channels) == ["bpp:turner2004"]
    assert any((tmp_path / "cache").rglob("*.npz"))
