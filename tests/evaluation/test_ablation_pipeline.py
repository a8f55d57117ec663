"""The masking-ablation pipeline (``benchmarks/masking_ablation.py``, :mod:`modeling_ssrlm.evaluation.masking_ablation`).

The smoke budget runs on fixture data: a tiny prepared corpus (random sequences, folded) and a tiny
secondary-structure build holding every split the probes read (hairpins).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from script_loader import load_script
from safetensors.torch import load_file

from modeling_ssrlm import SSRLMConfig, SSRLMForMaskedLM
from modeling_ssrlm.configuration_ssrlm import ALL_PRESETS, PRESETS, SMALL_PRESETS
from modeling_ssrlm.data.ss_datasets import SplitBuild, SSRecord, check_counts, write_build
from modeling_ssrlm.evaluation.masking_ablation import Ablation, filter_corpus, smoke_settings

prepare_pretraining = load_script("data_scripts/prepare_pretraining.py")
masking_ablation = load_script("benchmarks/masking_ablation.py")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _hairpin(rng: np.random.Generator, stem: int, loop: int, tail: int) -> tuple[str, list[tuple[int, int]]]:
    left = "".join(rng.choice(list("ACGU"), stem))
    complement = {"A": "U", "U": "A", "G": "C", "C": "G"}
    right = "".join(complement[b] for b in reversed(left))
    sequence = left + "".join(rng.choice(list("AC"), loop)) + right + "".join(rng.choice(list("AC"), tail))
    pairs = [(i, 2 * stem + loop - 1 - i) for i in range(stem)]
    return sequence, pairs


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory) -> tuple[Path, Path]:
    """``(corpus folder, ss build folder)``."""
    root = tmp_path_factory.mktemp("ablation_data")
    rng = np.random.default_rng(0)
    for name, prefix, alphabet in (("ncrna.fa", "nc", "ACGU"), ("other.fa", "cds", "ACGT")):
        records = [f">{prefix}{i}\n{''.join(rng.choice(list(alphabet), rng.integers(30, 90)))}\n" for i in range(24)]
        (root / name).write_text("".join(records))
    corpus = root / "corpus"
    argv = ["--ncrna", str(root / "ncrna.fa"), "--other", str(root / "other.fa"), "--out", str(corpus), "--shard-size", "16"]
    assert prepare_pretraining.main(argv) == 0
    builds = []
    splits = {
        ("rfam_ss", "valid", "valid"): 6, ("spot_rna_pdb", "TR1", "train"): 4, ("spot_rna_pdb", "TS1", "test"): 3,
        ("spot_rna_pdb", "TS2", "test"): 3, ("bprna", "TS0", "test"): 3, ("bprna", "TR0", "train"): 10,
        ("bprna", "VL0", "valid"): 4,
    }  # fmt: skip
    for (dataset, split, role), count in splits.items():
        records = []
        for k in range(count):
            sequence, pairs = _hairpin(rng, stem=int(rng.integers(4, 7)), loop=int(rng.integers(5, 9)), tail=int(rng.integers(0, 6)))
            records.append(SSRecord(f"RF0000{k % 3}/{split}{k}", sequence, tuple(pairs), f"RF0000{k % 3}"))
        builds.append(SplitBuild(dataset, split, role, "fixture", records, count))
    ss = root / "ss"
    write_build(builds, ss, "fixture", check_counts(builds, {}))
    return corpus, ss


def _argv(corpus: Path, ss: Path, out: Path, *extra: str) -> list[str]:
    return ["--smoke", "--corpus", str(corpus), "--ss-data", str(ss), "--out", str(out), *extra]


def test_small_preset_has_about_one_million_parameters_and_leaves_the_paper_presets_alone():
    assert set(PRESETS) == {"ssrlm-8m", "ssrlm-150m", "ssrlm-650m"}
    assert ALL_PRESETS == {**PRESETS, **SMALL_PRESETS}
    with torch.device("meta"):
        model = SSRLMForMaskedLM(SSRLMConfig.from_preset("ssrlm-1m"))
    assert sum(p.numel() for p in model.parameters()) == 987_008


def test_filter_corpus_drops_the_heldout_families_by_accession(tmp_path):
    source = tmp_path / "source"
    (source / "train").mkdir(parents=True)
    ids = ["RF00001/a/1-20", "RF00002/b/1-20", "RF000010/c", "cds1", "RF00001x/d"]
    table = pa.table({"id": ids, "sequence": ["ACGU"] * 5, "structure": ["...."] * 5, "is_ncrna": [True] * 5, "source": ["s"] * 5})
    pq.write_table(table, source / "train" / "shard-00000.parquet")
    pq.write_table(table.slice(0, 1), source / "plan.parquet")  # bookkeeping, not data
    counts = filter_corpus(source, tmp_path / "target", {"RF00001", "RF000010"})
    kept = pq.read_table(tmp_path / "target" / "train" / "shard-00000.parquet").column("id").to_pylist()
    assert kept == ["RF00002/b/1-20", "RF000010/c", "cds1", "RF00001x/d"]  # only '<accession>/' prefixes match
    assert counts["dropped"] == 1 and counts["dropped_families"] == {"RF00001": 1}
    assert (tmp_path / "target" / "heldout_families.txt").read_text() == "RF00001\nRF000010\n"


def test_smoke_run_writes_tables_plot_and_statistics_and_a_rerun_recomputes_nothing(fixture_data, tmp_path, capsys):
    corpus, ss = fixture_data
    out = tmp_path / "ablation"
    assert masking_ablation.main(_argv(corpus, ss, out)) == 0
    results = json.loads((out / "results" / "results.json").read_text())
    assert (out / "results" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (out / "results" / "ablation.md").read_text()
    assert "Paired comparison SSM − MLM" in markdown and "Paired comparison SSM − SM" in markdown
    table = results["table"]
    for metric in ("span:helix_accuracy", "span:partner_following", "contacts_p@l:spot_rna_pdb/TS1", "pair_f1_frozen:bprna/TS0",
                   "pair_f1_frozen_priors:spot_rna_pdb/TS1", "heldout_loss"):  # fmt: skip
        assert set(table[metric]) == {"mlm", "sm", "ssm", "init"}, metric
        assert len(table[metric]["ssm"]["per_seed"]) == 2
    comparison = results["comparisons"]["ssm-mlm"]["span:helix_accuracy"]
    assert comparison["seeds"] == 2 and comparison["ci_low"] <= comparison["difference"] <= comparison["ci_high"]
    # Equal tokens: every arm ran the same steps; curves hold both checkpoints (steps 2 and 4).
    for arm in ("mlm", "sm", "ssm"):
        for seed in (0, 1):
            summary = json.loads((out / "runs" / arm / f"seed{seed}" / "mlm" / "pretraining_summary.json").read_text())
            assert summary["global_steps"] == 4 and summary["token_slots"] == 4 * 2 * 128
            assert [p["step"] for p in results["curves"][arm][str(seed)]] == [2, 4]
    assert not (out / "runs" / "ssm" / "seed0" / "mlm" / "checkpoint-2" / "optimizer.pt").exists()  # slimmed
    # Every span instance is a whole helix strand or an equally long unpaired window of a held-out family.
    instances = json.loads((out / "probe_data" / "span_instances.json").read_text())["instances"]
    assert instances and {i["kind"] for i in instances} == {"helix", "unpaired"}
    assert (out / "corpus" / "heldout_families.txt").read_text().split() == ["RF00000", "RF00001", "RF00002"]

    # The same command again: nothing is recomputed (timings unchanged), the tables are rewritten.
    before = {path: path.stat().st_mtime_ns for path in (out / "runs").rglob("*.json")}
    assert masking_ablation.main(_argv(corpus, ss, out)) == 0
    after = {path: path.stat().st_mtime_ns for path in (out / "runs").rglob("*.json")}
    assert after == before

    # Other settings in the same folder are refused.
    assert masking_ablation.main(_argv(corpus, ss, out, "--steps", "6")) == 2
    assert "holds an ablation made with other settings (steps)" in capsys.readouterr().err
    # Which seeds are summarised is not a setting of the backbones: a subset is summarised from the same runs.
    assert masking_ablation.main(_argv(corpus, ss, out, "--seeds", "0", "--summary-only")) == 0
    assert len(json.loads((out / "results" / "results.json").read_text())["table"]["heldout_loss"]["ssm"]["per_seed"]) == 1
    # Probe 4 (on by default): every backbone, the references included, fine-tuned with its encoder trained.
    assert "full fine-tune (encoder trained, no priors) F1, bprna/TS0" in markdown
    assert set(table["pair_f1_full:spot_rna_pdb/TS1"]) == {"mlm", "sm", "ssm", "init"}
    assert "pair_f1_full:bprna/TS0" in results["comparisons"]["ssm-mlm"]
    full = json.loads((out / "runs" / "ssm" / "seed1" / "pair" / "full" / "finetune_summary.json").read_text())
    assert full["model"]["freeze_backbone"] is False and full["training"]["max_steps"] == 2
    assert masking_ablation.main(_argv(corpus, ss, out, "--no-full-finetune", "--summary-only")) == 0
    assert "pair_f1_full:bprna/TS0" not in json.loads((out / "results" / "results.json").read_text())["table"]

    # A released backbone is probed as one more reference column; given the initial weights it scores
    # what `init` scores, and its source folder is left untouched.
    released = tmp_path / "released"
    shutil.copytree(out / "runs" / "init" / "seed0" / "mlm", released)
    (released / "pretraining_summary.json").unlink()
    assert masking_ablation.main(_argv(corpus, ss, out, "--released-backbone", str(released))) == 0
    results = json.loads((out / "results" / "results.json").read_text())
    for metric in ("heldout_loss", "span:helix_accuracy", "pair_f1_frozen_priors:bprna/TS0"):
        assert results["table"][metric]["released"]["per_seed"] == results["table"][metric]["init"]["per_seed"], metric
    assert f"released `{released}`" in (out / "results" / "ablation.md").read_text()
    assert not (released / "pretraining_summary.json").exists()
    assert masking_ablation.main(_argv(corpus, ss, tmp_path / "other", "--released-backbone", str(tmp_path / "nothing"))) == 2
    assert "--released-backbone" in capsys.readouterr().err
    assert not (tmp_path / "other" / "runs").exists()  # refused before any work


def test_an_interrupted_pretraining_resumes_to_the_uninterrupted_weights(fixture_data, tmp_path, caplog):
    corpus, ss = fixture_data
    settings = smoke_settings(corpus=str(corpus), ss_data=str(ss), out=str(tmp_path / "a"), seeds=(0,), arms=("ssm",))
    ablation = Ablation(settings)
    ablation.check_settings()
    ablation.prepare_data()
    ablation.pretrain("ssm", 0)
    run = ablation.backbone_root("ssm", 0) / "mlm"
    straight = load_file(run / "model.safetensors")
    # Simulate a kill after the step-2 checkpoint: only checkpoint-2 (with its optimizer state) is left.
    for child in list(run.iterdir()):
        if child.name != "checkpoint-2":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    assert (run / "checkpoint-2" / "optimizer.pt").exists()
    with caplog.at_level("INFO", logger="transformers.trainer"):
        ablation.pretrain("ssm", 0)  # the same step again: resumes from checkpoint-2
    assert "Resuming training from checkpoint with epoch 0 and global step 2" in caplog.text
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [2, 4]  # step 2 from the checkpoint
    resumed = load_file(run / "model.safetensors")
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, msg=name)


def test_the_init_reference_is_the_start_of_every_arm_of_its_seed(fixture_data, tmp_path):
    from modeling_ssrlm.training.pretraining import build_trainer

    corpus, ss = fixture_data
    ablation = Ablation(smoke_settings(corpus=str(corpus), ss_data=str(ss), out=str(tmp_path / "a"), seeds=(0,)))
    ablation.check_settings()
    ablation.prepare_data()
    ablation.save_initial_model(0, tmp_path / "init")
    initial = load_file(tmp_path / "init" / "model.safetensors")
    train_mlm = load_script("train_mlm.py")
    for arm in ("mlm", "ssm"):
        start = build_trainer(*train_mlm.parse_args(ablation.pretrain_argv(arm, 0))).model.state_dict()
        assert initial.keys() == start.keys()
        for name, tensor in initial.items():
            torch.testing.assert_close(start[name], tensor, rtol=0, atol=0, msg=f"{arm}: {name}")
