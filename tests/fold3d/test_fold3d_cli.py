"""End to end: fold3d.py train (2 steps) -> predict (network, floor) -> evaluate -> export -> ssrlm fold3d."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.fold3d.data import save_chains
from modeling_ssrlm.fold3d.evaluation import superposition_scores
from modeling_ssrlm.fold3d.geometry import DEFAULT_HELIX_EXTENSION, aform_helix_frames, frames_to_atoms
from modeling_ssrlm.fold3d.pdb_io import ATOM_INDEX, ATOM_NAMES, RNAChain, read_plddt, read_rna_chains, read_structure_text
from modeling_ssrlm.fold3d.rigid import random_rotation
from modeling_ssrlm.modeling_ssrlm import SSRLMModel

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import fold3d  # noqa: E402

TINY = ["--single-dim", "16", "--pair-dim", "8", "--trunk-blocks", "1", "--structure-iterations", "2",
        "--floor-steps", "30", "--logging-steps", "1", "--warmup-steps", "0"]


def helix_chain(name: str, sequence: str, seed: int) -> RNAChain:
    frames = aform_helix_frames(len(sequence))
    coords = frames_to_atoms(frames, torch.tensor([b in "AG" for b in sequence])).numpy()
    coords = coords + np.random.default_rng(seed).normal(scale=0.3, size=coords.shape)
    return RNAChain(name, sequence, coords.astype(np.float32), np.ones((len(sequence), len(ATOM_NAMES)), bool), 2.0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    chains = [helix_chain("train-a", "GGGAAACCCUUAGC", 0), helix_chain("train-b", "ACGUACGUAGGCUAGC", 1),
              helix_chain("valid-c", "GGCGAAAGCCAA", 3), helix_chain("test-d", "GCGCAAAAGCGCUU", 2)]
    save_chains(data / "train.npz", chains[:2])
    save_chains(data / "valid.npz", chains[2:3])
    save_chains(data / "test.npz", chains[3:])
    (data / "test.fasta").write_text(">test-d\nGCGCAAAAGCGCUU\n")
    return data


def test_train_predict_evaluate_export_and_cli(data, tmp_path, capsys):
    from modeling_ssrlm.cli import main as ssrlm

    model_dir = tmp_path / "model"
    assert fold3d.main(["train", "--data", str(data), "--output-dir", str(model_dir), "--max-steps", "2",
                        "--eval-steps", "1", "--feature-cache", str(tmp_path / "cache"), *TINY]) == 0
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "config.json").is_file()
    summary = json.loads((model_dir / "training_summary.json").read_text())
    assert [entry["step"] for entry in summary["validation"]] == [0, 1, 2]
    assert summary["validation"][0]["network_lddt"] == summary["validation"][0]["floor_lddt"]  # identity at init
    assert summary["chosen_step"] in (0, 1, 2) and summary["command"].startswith("python fold3d.py train")
    assert (model_dir / "last" / "model.safetensors").is_file()
    assert any(tmp_path.joinpath("cache").glob("*.npz"))
    config = json.loads((model_dir / "config.json").read_text())
    assert config["floor_helix_extension"] == DEFAULT_HELIX_EXTENSION  # new runs build the extended floor

    fasta = str(data / "test.fasta")
    network, floor = tmp_path / "network", tmp_path / "floor"
    assert fold3d.main(["predict", "--model", str(model_dir), "--fasta", fasta, "--out", str(network)]) == 0
    assert fold3d.main(["predict", "--model", str(model_dir), "--mode", "floor", "--fasta", fasta,
                        "--out", str(floor)]) == 0
    plddt = read_plddt(network / "test-d.pdb")
    assert plddt.shape == (14,) and np.all((plddt > 0) & (plddt < 1))
    assert np.all(read_plddt(floor / "test-d.pdb") > 0)

    report = tmp_path / "eval"
    assert fold3d.main(["evaluate", "--predictions", str(network), "--floor-predictions", str(floor),
                        "--chains", str(data / "test.npz"), "--floor-steps", "30", "--out", str(report)]) == 0
    result = json.loads((report / "evaluation.json").read_text())
    assert result["targets"] == 1 and result["per_target"][0]["target"] == "test-d"
    for method in ("network", "floor", "distance_geometry_floor"):
        entry = result["methods"][method]
        assert 0.0 <= entry["mean_lddt"] <= 1.0 and entry["mean_rmsd"] >= 0 and 0 <= entry["mean_tm_score"] <= 1
    row = result["per_target"][0]
    assert row["difference"] == pytest.approx(row["network"]["lddt"] - row["floor"]["lddt"])
    assert result["network_minus_floor"]["improved"] in (0, 1)
    text = (report / "evaluation.md").read_text()
    assert "| floor: rigid A-form helices" in text and "network better on" in text

    released = tmp_path / "released"
    assert fold3d.main(["export", "--model", str(model_dir), "--evaluation", str(report / "evaluation.json"),
                        "--default-mode", "floor", "--out", str(released)]) == 0
    card = (released / "README.md").read_text()
    assert card.startswith("---\nlicense: apache-2.0") and "Default mode of `ssrlm fold3d` with this folder: **floor**" in card
    assert f"each grown by up to {DEFAULT_HELIX_EXTENSION} stacked pair(s) at both ends" in card
    assert json.loads((released / "config.json").read_text())["default_mode"] == "floor"
    assert (released / "recipe.json").is_file() and (released / "eval.json").is_file()
    assert not list(released.glob("*.py"))

    capsys.readouterr()
    # the folder's default mode (floor) applies unless --mode says otherwise
    assert ssrlm(["fold3d", "GCGCAAAAGCGCUU", "--model", str(released), "--out", str(tmp_path / "cli_floor")]) == 0
    assert ssrlm(["fold3d", "GCGCAAAAGCGCUU", "--model", str(released), "--mode", "network",
                  "--out", str(tmp_path / "cli_network")]) == 0
    written = sorted(p.name for p in (tmp_path / "cli_floor").glob("*.pdb"))
    assert len(written) == 1
    cli_floor = read_rna_chains(read_structure_text(tmp_path / "cli_floor" / written[0]), written[0])[0]
    assert cli_floor.sequence == "GCGCAAAAGCGCUU"
    ours = read_rna_chains(read_structure_text(floor / "test-d.pdb"), "test-d.pdb")[0]
    np.testing.assert_allclose(cli_floor.coords, ours.coords, atol=1e-3)


def test_floor_mode_needs_no_model(data, tmp_path, capsys):
    out = tmp_path / "floor"
    assert fold3d.main(["predict", "--mode", "floor", "--fasta", str(data / "test.fasta"), "--out", str(out)]) == 0
    assert np.all(read_plddt(out / "test-d.pdb") == 0)  # no confidence without a model
    assert fold3d.main(["predict", "--fasta", str(data / "test.fasta"), "--out", str(out)]) == 2
    assert "needs a model" in capsys.readouterr().err


def test_bad_input_exits_with_code_2(tmp_path, capsys):
    assert fold3d.main(["evaluate", "--predictions", str(tmp_path), "--chains", str(tmp_path / "none.npz"),
                        "--out", str(tmp_path / "out")]) == 2
    assert "build_3d_dataset" in capsys.readouterr().err
    assert fold3d.main(["train", "--data", str(tmp_path), "--output-dir", str(tmp_path / "m"),
                        "--encoder", "no-such-preset"]) == 2
    assert "neither a folder" in capsys.readouterr().err


def test_train_with_a_frozen_encoder_folder(data, tmp_path):
    encoder = tmp_path / "encoder"
    SSRLMModel(SSRLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32)).save_pretrained(encoder)
    model_dir = tmp_path / "model"
    assert fold3d.main(["train", "--data", str(data), "--output-dir", str(model_dir), "--encoder", str(encoder),
                        "--max-steps", "1", "--eval-steps", "0", "--feature-cache", str(tmp_path / "cache"),
                        *TINY]) == 0
    config = json.loads((model_dir / "config.json").read_text())
    assert config["use_encoder"] and config["encoder_config"]["hidden_size"] == 16


def test_superposition_scores_use_biotite():
    generator = torch.Generator().manual_seed(0)
    reference = (10 * torch.randn(30, 3, generator=generator)).numpy()
    mask = np.ones(30, bool)
    moved = reference @ random_rotation(generator=generator).numpy().T + 7.0
    rmsd, tm = superposition_scores(moved, reference, mask)
    assert rmsd == pytest.approx(0.0, abs=1e-3) and tm == pytest.approx(1.0, abs=1e-4)
    mirrored = reference * np.array([1, 1, -1])
    assert superposition_scores(mirrored, reference, mask)[0] > 1.0  # no reflection in the superposition
    mask[:5] = False
    noisy = reference.copy()
    noisy[:5] += 100.0  # residues missing in the reference do not count
    rmsd, tm = superposition_scores(noisy, reference, mask)
    assert rmsd == pytest.approx(0.0, abs=1e-3) and tm == pytest.approx(1.0, abs=1e-4)
    assert ATOM_INDEX["C4'"] == 5


def test_floor_extension_benchmark_scores_each_extension_against_the_first(data, tmp_path):
    from modeling_ssrlm.fold3d.data import load_chains
    from modeling_ssrlm.fold3d.geometry import floor_frames
    from modeling_ssrlm.fold3d.lddt import lddt
    from modeling_ssrlm.fold3d.secondary import ViennaRNASource
    from script_loader import load_script

    benchmark = load_script("benchmarks/floor_extension.py")
    out = tmp_path / "extension.json"
    assert benchmark.main(["--chains", str(data / "test.npz"), "--extensions", "0", "2", "--floor-steps", "30",
                           "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    [row] = result["per_target"]
    [chain] = load_chains(data / "test.npz")
    pairs = ViennaRNASource()(chain.sequence).pairs  # GCGC AAAA GCGC: one hairpin; extension 2 adds (4, 7) A·A
    reference, mask = chain.atom("C4'")
    for extension in (0, 2):
        c4 = floor_frames(chain.sequence, pairs, 30, extension).trans.numpy()
        assert row[str(extension)]["lddt"] == pytest.approx(lddt(c4, reference, mask))
    assert row["0"]["lddt"] != row["2"]["lddt"]
    summary = result["summary"]
    assert summary["0"]["lddt_difference"] == 0 and summary["0"]["improved_fraction"] == 0
    assert summary["2"]["lddt_difference"] == pytest.approx(row["2"]["lddt"] - row["0"]["lddt"])
    assert out.with_suffix(".md").read_text().startswith("# A-form floor with helix extension")
    with pytest.raises(SystemExit) as refused:
        benchmark.main(["--chains", str(data / "test.npz"), "--extensions", "-1", "--out", str(out)])
    assert refused.value.code == 2


def test_identity_benchmark_bins_chains_by_their_nearest_2d_training_record(data, tmp_path):
    from script_loader import load_script
    from ss_fixture import write_tiny_ss_datasets

    benchmark = load_script("benchmarks/identity_3d_to_2d_training.py")
    root = write_tiny_ss_datasets(tmp_path / "ss")  # hairpins GGGGAAAACCCC, GGGGGAAAACCCCC, ...
    chains = tmp_path / "chains.npz"
    save_chains(chains, [helix_chain("copy", "GGGGGAAAACCCCC", 0), helix_chain("unrelated", "UCAGUCAGUCAGUCAGUCAG", 1)])
    out = tmp_path / "identity.md"
    assert benchmark.main(["--chains", str(chains), "--splits", "tiny/train", "--data-root", str(root), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## chains.npz: 2 chains — ≥ 80 %: 1, 50–80 %: 0, < 50 %: 1" in text
    assert "| copy | tiny/train:hairpin5 | 1.000 |" in text and "| unrelated | – | 0.000 |" in text
