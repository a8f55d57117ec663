"""The ``ssrlm`` command: formats, inputs, plots, embeddings and bad-input handling (exit code 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modeling_ssrlm import SSRLMConfig
from modeling_ssrlm.cli import main
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction
from modeling_ssrlm.secondary_structure import parse_dot_bracket, read_bpseq, read_ct

FASTA = ">first\nGGGGAAACCCC\n>second seq\nacguacguagcuagcu\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    config = SSRLMConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        pair_hidden_channels=8, pair_num_blocks=1, pair_threshold=0.5,
    )
    SSRLMForPairPrediction(config).save_pretrained(folder)
    return folder


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "input.fa"
    path.write_text(FASTA)
    return path


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_dbn_to_stdout(capsys, model_dir, fasta):
    code, out, err = run(capsys, "predict", str(fasta), "--model", str(model_dir), "--device", "cpu")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ">first" and lines[1] == "GGGGAAACCCC" and lines[3] == ">second"
    assert lines[4] == "ACGUACGUAGCUAGCU"  # RNA alphabet in the output
    for structure, sequence in ((lines[2], lines[1]), (lines[5], lines[4])):
        assert len(structure) == len(sequence)
        parse_dot_bracket(structure)


def test_json_lines_and_plain_sequence_argument(capsys, model_dir):
    code, out, _ = run(capsys, "predict", "GGGGAAACCCC", "--format", "json", "--model", str(model_dir))
    assert code == 0
    record = json.loads(out)
    assert set(record) == {"id", "sequence", "structure", "pairs"}
    assert record["id"] == "seq1" and record["sequence"] == "GGGGAAACCCC"
    assert [tuple(p) for p in record["pairs"]] == parse_dot_bracket(record["structure"])
    assert all(i < j for i, j in record["pairs"])


def test_stdin_input(capsys, model_dir, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(FASTA.encode())))
    code, out, _ = run(capsys, "predict", "-", "--model", str(model_dir))
    assert code == 0 and out.splitlines()[0::3] == [">first", ">second"]


@pytest.mark.parametrize("fmt", ["bpseq", "ct"])
def test_files_per_record_and_plots(capsys, model_dir, fasta, tmp_path, fmt):
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, "predict", str(fasta), "--model", str(model_dir), "--format", fmt, "--out", str(out_dir), "--plot")
    assert code == 0, err
    reader = read_bpseq if fmt == "bpseq" else read_ct
    sequence, _ = reader(out_dir / f"second.{fmt}")
    assert sequence.upper() == "ACGUACGUAGCUAGCU"
    assert (out_dir / "first.png").stat().st_size > 1000


def test_bad_record_keeps_earlier_output_and_exits_2(capsys, model_dir, tmp_path):
    path = tmp_path / "bad.fa"
    path.write_text(">good\nGGGGAAACCCC\n>bad\nACGU-ACGU\n>later\nACGU\n")
    code, out, err = run(capsys, "predict", str(path), "--model", str(model_dir))
    assert code == 2
    assert out.splitlines()[:2] == [">good", "GGGGAAACCCC"] and len(out.splitlines()) == 3
    assert err.strip().count("\n") == 0
    assert "record 'bad'" in err and "invalid character '-' at position 4" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "holds no sequence records"), ("this is not fasta\n", "not valid FASTA"), (">empty\n\n", "empty sequence")],
)
def test_bad_files_exit_2_with_one_line(capsys, model_dir, tmp_path, content, message):
    path = tmp_path / "input.fa"
    path.write_text(content)
    code, _, err = run(capsys, "predict", str(path), "--model", str(model_dir))
    assert code == 2 and message in err and err.strip().count("\n") == 0


def test_over_long_sequence_is_rejected(capsys, model_dir):
    code, _, err = run(capsys, "predict", "ACGU" * 10, "--max-length", "20", "--model", str(model_dir))
    assert code == 2 and "40 nt is longer than --max-length 20" in err


def test_missing_model_folder(capsys, tmp_path):
    code, _, err = run(capsys, "predict", "ACGU", "--model", str(tmp_path / "nope"))
    assert code == 2 and "is not a model folder" in err


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_embed(capsys, model_dir, fasta, tmp_path, suffix):
    out = tmp_path / f"emb{suffix}"
    code, _, err = run(capsys, "embed", str(fasta), "--model", str(model_dir), "--out", str(out))
    assert code == 0, err
    if suffix == ".npz":
        data = np.load(out)
        assert list(data["ids"]) == ["first", "second"]
        assert data["embeddings"].shape == (2, 32) and data["tokens_1"].shape == (16, 32)
        assert np.allclose(data["tokens_0"].mean(0), data["embeddings"][0], atol=1e-6)
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(out).to_pylist()
        assert [row["id"] for row in table] == ["first", "second"] and len(table[1]["token_embeddings"]) == 16


def test_fold3d_writes_pdb_files_with_plddt(capsys, fasta, tmp_path):
    from modeling_ssrlm.fold3d import SSRLMForStructurePrediction, SSRLMStructureConfig
    from modeling_ssrlm.fold3d.pdb_io import read_plddt

    encoder = SSRLMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    model_dir = tmp_path / "fold3d"
    SSRLMForStructurePrediction(SSRLMStructureConfig(encoder_config=encoder.to_dict())).save_pretrained(model_dir)
    code, out, err = run(capsys, "fold3d", str(fasta), "--model", str(model_dir), "--out", str(tmp_path / "pdb"))
    assert code == 0, err
    assert [line.split("\t")[0] for line in out.splitlines()] == ["first", "second"]
    plddt = read_plddt(tmp_path / "pdb" / "second.pdb")
    assert len(plddt) == 16 and all(0 <= value <= 1 for value in plddt)


def test_fold3d_needs_a_model(capsys, fasta, tmp_path):
    code, _, err = run(capsys, "fold3d", str(fasta), "--out", str(tmp_path / "pdb"))
    assert code == 2 and "no 3D model is shipped" in err
