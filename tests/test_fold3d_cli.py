"""End to end: fold3d.py train (2 steps) -> predict -> evaluate on a 3-chain fixture."""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.fold3d.data import save_chains
from modeling_ssrlm.fold3d.geometry import aform_helix_frames, frames_to_atoms
from modeling_ssrlm.fold3d.pdb_io import ATOM_NAMES, RNAChain, read_plddt
from modeling_ssrlm.modeling_ssrlm import SSRLMModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fold3d  # noqa: E402


def helix_chain(name: str, sequence: str, seed: int) -> RNAChain:
    frames = aform_helix_frames(len(sequence))
    coords = frames_to_atoms(frames, torch.tensor([b in "AG" for b in sequence])).numpy()
    coords = coords + np.random.default_rng(seed).normal(scale=0.3, size=coords.shape)
    return RNAChain(name, sequence, coords.astype(np.float32), np.ones((len(sequence), len(ATOM_NAMES)), bool), 2.0)


def test_train_predict_evaluate(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    chains = [helix_chain("train-a", "GGGAAACCCUUAGC", 0), helix_chain("train-b", "ACGUACGUAGGCUAGC", 1),
              helix_chain("test-c", "GCGCAAAAGCGCUU", 2)]
    save_chains(data / "train.npz", chains[:2])
    save_chains(data / "test.npz", chains[2:])
    (data / "test.fasta").write_text(">test-c\nGCGCAAAAGCGCUU\n")
    encoder = tmp_path / "encoder"
    SSRLMModel(SSRLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32)).save_pretrained(encoder)

    model_dir = tmp_path / "model"
    assert fold3d.main(["train", "--data", str(data), "--output-dir", str(model_dir), "--encoder", str(encoder),
                        "--max-steps", "2", "--warmup-steps", "0", "--single-dim", "16", "--pair-dim", "8",
                        "--trunk-blocks", "1", "--structure-iterations", "2", "--logging-steps", "1"]) == 0
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "config.json").is_file()

    predictions = tmp_path / "pred"
    assert fold3d.main(["predict", "--model", str(model_dir), "--fasta", str(data / "test.fasta"),
                        "--out", str(predictions)]) == 0
    plddt = read_plddt(predictions / "test-c.pdb")
    assert plddt.shape == (14,) and np.all((plddt > 0) & (plddt < 1))

    report = tmp_path / "eval"
    assert fold3d.main(["evaluate", "--predictions", str(predictions), "--chains", str(data / "test.npz"),
                        "--out", str(report)]) == 0
    summary = json.loads((report / "evaluation.json").read_text())
    assert summary["targets"] == 1 and summary["per_target"][0]["target"] == "test-c"
    assert 0.0 <= summary["mean_lddt"] <= 1.0
    assert 0.0 < summary["baseline_mean_lddt"] <= 1.0
    assert "| SSR-LM structure model |" in (report / "evaluation.md").read_text()


def test_bad_input_exits_with_code_2(tmp_path, capsys):
    assert fold3d.main(["evaluate", "--predictions", str(tmp_path), "--chains", str(tmp_path / "none.npz"),
                        "--out", str(tmp_path / "out")]) == 2
    assert "build_3d_dataset" in capsys.readouterr().err
    assert fold3d.main(["train", "--data", str(tmp_path), "--output-dir", str(tmp_path / "m"),
                        "--encoder", "no-such-preset"]) == 2
    assert "neither a folder nor one of the presets" in capsys.readouterr().err
