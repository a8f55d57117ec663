"""The ``ssrlm`` command: formats, inputs, plots, embeddings and bad-input handling (exit code 2)."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_ssrlm import SSRLMConfig, cli
from modeling_ssrlm.cli import main, predict_structures
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction
from modeling_ssrlm.secondary_structure import parse_dot_bracket, read_bpseq, read_ct

REPO_ROOT = Path(__file__).resolve().parents[2]
RANDOM_RNA = bytes(np.random.default_rng(0).choice(list(b"ACGU"), 2000))  # does not compress much
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


@pytest.mark.parametrize("jobs", [None, "3"])
def test_jobs_reach_the_prior_channel_workers(capsys, model_dir, fasta, monkeypatch, jobs):
    from modeling_ssrlm.cli import available_cores

    seen = []
    original = SSRLMForPairPrediction.predict
    monkeypatch.setattr(SSRLMForPairPrediction, "predict", lambda self, *a, **kw: seen.append(kw["prior_workers"]) or original(self, *a, **kw))
    code, _, err = run(capsys, "predict", str(fasta), "--model", str(model_dir), *(["--jobs", jobs] if jobs else []))
    assert code == 0, err
    assert seen == [int(jobs) if jobs else available_cores()]
    assert available_cores() == len(os.sched_getaffinity(0)) >= 1


def test_dbn_to_stdout(capsys, model_dir, fasta):
    code, out, err = run(capsys, "predict", str(fasta), "--model", str(model_dir), "--device", "cpu")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ">first" and lines[1] == "GGGGAAACCCC" and lines[3] == ">second"
    assert lines[4] == "ACGUACGUAGCUAGCU"  # RNA alphabet in the output
    for structure, sequence in ((lines[2], lines[1]), (lines[5], lines[4])):
        assert len(structure) == len(sequence)
        parse_dot_bracket(structure)


def test_canonical_only_switches_off_the_pdb_models_noncanonical_pairs(capsys, tmp_path):
    from modeling_ssrlm.secondary_structure import base_pair_type

    pdb_model = Path(__file__).resolve().parents[2] / "models" / "ssrlm-ss-priors-pdb"
    sequence = "GGGGAAACCCCAUAUGGGGAAACCCC"  # two stems around a 3x3 A internal loop
    code, out, _ = run(capsys, "predict", sequence, "--model", str(pdb_model))
    assert code == 0
    pairs = parse_dot_bracket(out.split()[2])
    noncanonical = [(i, j) for i, j in pairs if base_pair_type(sequence[i], sequence[j]) == "noncanonical"]
    assert noncanonical, "the PDB model adds stacked A·A pairs in the internal loop"
    code, out, _ = run(capsys, "predict", sequence, "--model", str(pdb_model), "--canonical-only")
    assert code == 0 and out.split()[2] == "((((...((((....))))...))))"
    raw = tmp_path / "raw"
    SSRLMForPairPrediction(SSRLMConfig(hidden_size=16, num_attention_heads=2, pair_postprocess=False)).save_pretrained(raw)
    capsys.readouterr()
    code, out, err = run(capsys, "predict", sequence, "--model", str(raw), "--canonical-only")
    assert code == 2 and out == "" and err.count("\n") == 1 and "pair_postprocess is off" in err


def test_json_lines_and_plain_sequence_argument(capsys, model_dir):
    code, out, _ = run(capsys, "predict", "GGGGAAACCCC", "--format", "json", "--model", str(model_dir))
    assert code == 0
    record = json.loads(out)
    assert set(record) == {"id", "sequence", "structure", "pairs", "pairs_not_in_structure"}
    assert record["pairs_not_in_structure"] == []
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


def test_fold3d_without_a_model_offers_the_floor(capsys, fasta, tmp_path, monkeypatch):
    import modeling_ssrlm.fold3d.inference as inference

    monkeypatch.setattr(inference, "default_model_dir", lambda: None)
    code, _, err = run(capsys, "fold3d", str(fasta), "--out", str(tmp_path / "pdb"))
    assert code == 2 and "no 3D model found" in err and "--mode floor" in err
    code, out, _ = run(capsys, "fold3d", str(fasta), "--out", str(tmp_path / "pdb"), "--mode", "floor")
    assert code == 0 and len(list((tmp_path / "pdb").glob("*.pdb"))) == len(out.splitlines())


# --------------------------------------------------------------------------- the error contract


def _copy(folder, tmp_path, name):
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    return copy


def _truncated_weights(model_dir, tmp_path, monkeypatch):
    folder = _copy(model_dir, tmp_path, "truncated")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4000])
    return ["predict", "ACGU", "--model", str(folder)]


def _edited_config(edit):
    def setup(model_dir, tmp_path, monkeypatch):
        folder = _copy(model_dir, tmp_path, "edited")
        config = folder / "config.json"
        config.write_text(edit(config.read_text()))
        return ["predict", "ACGU", "--model", str(folder)]

    return setup


def _mlm_backbone(model_dir, tmp_path, monkeypatch):
    from modeling_ssrlm import SSRLMForMaskedLM

    config = SSRLMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    SSRLMForMaskedLM(config).save_pretrained(tmp_path / "mlm")
    monkeypatch.setenv("SSRLM_MODEL", "/the/default/model")
    return ["predict", "ACGU", "--model", str(tmp_path / "mlm")]


def _no_default_model(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "default_model_dir", lambda: (tmp_path / "models" / "DEFAULT").read_text())
    return ["predict", "ACGU"]


def _out_is_a_file(model_dir, tmp_path, monkeypatch):
    (tmp_path / "taken").write_text("x")
    return ["predict", "ACGU", "--model", str(model_dir), "--out", str(tmp_path / "taken")]


def _out_under_a_file(model_dir, tmp_path, monkeypatch):
    (tmp_path / "taken").write_text("x")
    return ["predict", "ACGU", "--model", str(model_dir), "--out", str(tmp_path / "taken" / "out")]


def _out_read_only(model_dir, tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir(mode=0o500)
    return ["predict", "ACGU", "--model", str(model_dir), "--out", str(tmp_path / "locked")]


def _out_not_empty(model_dir, tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.dbn").write_text("x")
    return ["predict", "ACGU", "--model", str(model_dir), "--out", str(tmp_path / "out")]


def _embed_out_under_a_file(model_dir, tmp_path, monkeypatch):
    (tmp_path / "taken").write_text("x")
    return ["embed", "ACGU", "--model", str(model_dir), "--out", str(tmp_path / "taken" / "e.npz")]


class _FullDisk(io.StringIO):
    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")


def _stdout_full(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    return ["predict", "ACGU", "--model", str(model_dir)]


def _out_of_memory(model_dir, tmp_path, monkeypatch):
    def exhausted(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

    monkeypatch.setattr(cli, "predict_structures", exhausted)
    return ["predict", "ACGU", "--model", str(model_dir)]


def _out_dir_full(model_dir, tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        self.touch()  # the half-written temporary file must not stay behind
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    return ["predict", "ACGU", "--model", str(model_dir), "--out", str(tmp_path / "out")]


def _argv(*argv):
    return lambda model_dir, tmp_path, monkeypatch: [part.format(model=model_dir, tmp=tmp_path) for part in argv]


def _input_file(content: bytes, *extra):
    def setup(model_dir, tmp_path, monkeypatch):
        (tmp_path / "input.fa").write_bytes(content)
        return ["predict", str(tmp_path / "input.fa"), "--model", str(model_dir), *extra]

    return setup


ERROR_CASES = [
    pytest.param(_truncated_weights, "the safetensors file is truncated or corrupt", id="truncated-safetensors"),
    pytest.param(
        _edited_config(lambda text: text.replace('"model_type": "ssrlm"', '"model_type": "bert"')),
        "holds a 'bert' checkpoint, not an 'ssrlm' one", id="config-of-another-model-type",
    ),  # fmt: skip
    pytest.param(_edited_config(lambda text: text[:-10]), "is not a readable JSON model config", id="invalid-config-json"),
    pytest.param(_edited_config(lambda text: "[1, 2]"), "cannot load the model in", id="config-json-not-an-object"),
    pytest.param(
        _mlm_backbone,
        "(SSRLMForMaskedLM) has no weights for pair_head, which SSRLMForPairPrediction needs; use a pair-prediction "
        "model (finetune_ss.py), such as the default /the/default/model (leave out --model)",
        id="mlm-folder-without-pair-head",
    ),  # fmt: skip
    pytest.param(_argv("predict", "ACGU", "--model", "{tmp}"), "is not a model folder (no config.json)", id="no-config"),
    pytest.param(_no_default_model, "no default model is installed", id="no-default-model"),
    pytest.param(_out_is_a_file, "exists and is not a folder", id="out-is-a-file"),
    pytest.param(_out_under_a_file, "cannot create --out", id="out-not-creatable"),
    pytest.param(
        _out_read_only, "Permission denied", id="out-read-only",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder"),
    ),  # fmt: skip
    pytest.param(_out_not_empty, "is not empty (1 entries): pass --overwrite", id="out-not-empty"),
    pytest.param(_stdout_full, "cannot write standard output: No space left on device", id="stdout-disk-full"),
    pytest.param(_out_of_memory, "out of memory predicting 1 records of up to 4 nt (first 'seq1')", id="out-of-memory"),
    pytest.param(_out_dir_full, "out/seq1.dbn: No space left on device", id="out-disk-full"),
    pytest.param(
        _argv("predict", "ACGU", "--batch-tokens", "0"),
        "ssrlm predict: error: argument --batch-tokens: expected a positive integer, got 0", id="batch-tokens-0",
    ),  # fmt: skip
    pytest.param(_argv("predict", "ACGU", "--max-length", "x"), "expected a positive integer, got 'x'", id="max-length-x"),
    pytest.param(_argv("predict", "ACGU", "--jobs", "0"), "argument --jobs: expected a positive integer, got 0", id="jobs-0"),
    pytest.param(_argv("predict", "--no-such-flag"), "unrecognized arguments: --no-such-flag", id="unknown-flag"),
    pytest.param(_argv("predict", "{tmp}"), "is a folder, not a FASTA file", id="input-is-a-folder"),
    pytest.param(_argv("predict", "{tmp}/missing.fa"), "no such file", id="input-missing"),
    pytest.param(_input_file(gzip.compress(b">a\n" + RANDOM_RNA)[:500]), "damaged gzip data", id="damaged-gzip"),
    pytest.param(_input_file(b"\x89PNG\r\n\x1a\n\x00\x00"), "is not valid FASTA", id="binary-input"),
    pytest.param(_input_file(b">a\nACGU\n", "--plot"), "--plot needs --out", id="plot-without-out"),
    pytest.param(
        _argv("predict", "ACGU", "--model", "{model}", "--device", "cuda"), "no CUDA device is available",
        id="no-cuda", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present"),
    ),  # fmt: skip
    pytest.param(_argv("embed", "ACGU", "--model", "{model}", "--out", "{tmp}/e.txt"), "must end in .npz", id="embed-suffix"),
    pytest.param(
        _embed_out_under_a_file, "cannot create the folder of --out",
        id="embed-out-under-a-file",
    ),  # fmt: skip
    pytest.param(
        _argv("fold3d", "ACGU", "--model", "{model}", "--out", "{tmp}/pdb"),
        "holds a 'ssrlm' model (SSRLMForPairPrediction), not 'ssrlm_structure'", id="fold3d-with-a-pair-model",
    ),  # fmt: skip
]


@pytest.mark.parametrize("setup, message", ERROR_CASES)
def test_user_errors_end_in_one_stderr_line_and_exit_2(capsys, monkeypatch, model_dir, tmp_path, setup, message):
    argv = setup(model_dir, tmp_path, monkeypatch)
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("ssrlm") and " error: " in err, err
    assert message in err
    assert not list(tmp_path.rglob("*.tmp")), "no temporary file may stay behind"


def test_ctrl_c_exits_130_and_keeps_the_records_written(capsys, monkeypatch, model_dir, tmp_path):
    calls = []

    def interrupted_on_second_batch(model, sequences, batch_tokens, prior_workers=1):
        calls.append(sequences)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return predict_structures(model, sequences, batch_tokens, prior_workers)

    monkeypatch.setattr(cli, "predict_structures", interrupted_on_second_batch)
    path = tmp_path / "three.fa"
    path.write_text(">one\nGGGGAAACCCC\n>two\nGGGGAAACCCC\n>three\nACGU\n")
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, "predict", str(path), "--model", str(model_dir), "--batch-tokens", "11", "--out", str(out_dir))
    assert code == 130
    assert err == "ssrlm predict: error: interrupted after 1 records (each of them written in full)\n"
    assert sorted(p.name for p in out_dir.iterdir()) == ["one.dbn"]
    assert (out_dir / "one.dbn").read_text().startswith(">one\nGGGGAAACCCC\n")


def test_ctrl_c_while_writing_a_file_leaves_no_partial_file(capsys, monkeypatch, model_dir, tmp_path):
    original = Path.write_text

    def interrupted_second_write(self, text, *args, **kwargs):
        if self.name.startswith("two"):
            original(self, text[:5], *args, **kwargs)
            raise KeyboardInterrupt
        return original(self, text, *args, **kwargs)

    path = tmp_path / "input.fa"
    path.write_text(">one\nGGGGAAACCCC\n>two\nGGGGAAACCCC\n")
    monkeypatch.setattr(Path, "write_text", interrupted_second_write)
    out_dir = tmp_path / "out"
    code, _, _ = run(capsys, "predict", str(path), "--model", str(model_dir), "--out", str(out_dir))
    assert code == 130 and sorted(p.name for p in out_dir.iterdir()) == ["one.dbn"]


def test_full_disk_on_stdout_in_a_real_process(model_dir):
    """`ssrlm predict ... > /dev/full`: one line, exit 2, and no "Exception ignored" when Python exits."""
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full exists on Linux only")
    command = [sys.executable, "-c", "import sys; from modeling_ssrlm.cli import main; sys.exit(main())"]
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*command, "predict", "GGGGAAACCCC", "--model", str(model_dir), "--device", "cpu"],
            stdout=full, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            timeout=300,
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == "ssrlm predict: error: cannot write standard output: No space left on device\n"


# --------------------------------------------------------------------------- records and output files


def test_skip_invalid_reports_bad_records_and_goes_on(capsys, model_dir, tmp_path):
    path = tmp_path / "mixed.fa"
    path.write_text(">good\nGGGGAAACCCC\n>bad\nACGU-ACGU\n>empty\n>later\nACGU\n")
    code, out, err = run(capsys, "predict", str(path), "--model", str(model_dir), "--skip-invalid")
    assert code == 0
    assert out.splitlines()[0::3] == [">good", ">later"]
    notes = err.splitlines()
    assert len(notes) == 2
    assert notes[0].startswith("ssrlm predict: note: skipped record 'bad': invalid character '-' at position 4")
    assert notes[1] == "ssrlm predict: note: skipped record 'empty': empty sequence"


def test_skip_invalid_with_nothing_valid_is_an_error(capsys, model_dir):
    code, out, err = run(capsys, "predict", "ACGU", "--max-length", "2", "--skip-invalid", "--model", str(model_dir))
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == "ssrlm predict: error: no valid sequence record (1 skipped)"


def test_one_nucleotide_sequences_are_predicted_unpaired(capsys, model_dir, tmp_path):
    path = tmp_path / "short.fa"
    path.write_text(">one\nA\n>two\nGC\n>three\nu\n")
    code, out, err = run(capsys, "predict", str(path), "--model", str(model_dir), "--batch-tokens", "1")
    assert code == 0, err
    assert out.splitlines()[0::3] == [">one", ">two", ">three"] and out.splitlines()[2] == "."
    assert out.splitlines()[8] == "."


def test_colliding_names_get_stable_suffixes(capsys, model_dir, tmp_path):
    path = tmp_path / "ids.fa"
    path.write_text("".join(f">{name}\nGGGGAAACCCC\n" for name in ["a/b", "a_b", "a_b", "A_B", "x"]))
    names = {}
    for attempt in range(2):
        out_dir = tmp_path / "out"
        code, _, err = run(capsys, "predict", str(path), "--model", str(model_dir), "--out", str(out_dir), "--overwrite")
        assert code == 0, err
        names[attempt] = {p.name: p.read_text().split("\n")[0] for p in out_dir.iterdir()}
    assert names[0] == names[1] == {
        "a_b.dbn": ">a/b", "a_b~2.dbn": ">a_b", "a_b~3.dbn": ">a_b", "A_B~4.dbn": ">A_B", "x.dbn": ">x"
    }
    assert err.splitlines() == [
        "ssrlm predict: note: record 'a_b' is written as a_b~2: the name a_b is taken by record 'a/b'",
        "ssrlm predict: note: record 'a_b' is written as a_b~3: the name a_b is taken by record 'a/b'",
        "ssrlm predict: note: record 'A_B' is written as A_B~4: the name A_B is taken by record 'a/b'",
    ]


def test_overwrite_replaces_same_names_and_keeps_other_files(capsys, model_dir, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "seq1.dbn").write_text("old")
    (out_dir / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "predict", "GGGGAAACCCC", "--model", str(model_dir), "--out", str(out_dir), "--overwrite")
    assert code == 0, err
    assert (out_dir / "seq1.dbn").read_text().startswith(">seq1\n") and (out_dir / "notes.txt").read_text() == "mine"


def test_pairs_beyond_thirty_levels_are_noted_and_listed_in_json(capsys, monkeypatch, model_dir):
    from modeling_ssrlm.modeling_ssrlm_pair import PairPrediction

    crossing = [(k, k + 31) for k in range(31)]  # 31 mutually crossing pairs: one more than the levels
    monkeypatch.setattr(
        cli, "predict_structures", lambda model, sequences, *_: [PairPrediction(s, None, crossing) for s in sequences]
    )
    code, out, err = run(capsys, "predict", "G" * 62, "--format", "json", "--model", str(model_dir))
    assert code == 0
    record = json.loads(out)
    assert record["pairs_not_in_structure"] == [[30, 61]] and len(record["pairs"]) == 31
    assert parse_dot_bracket(record["structure"]) == crossing[:30]
    assert err == (
        "ssrlm predict: note: record 'seq1': 1 of 31 pairs need more than the 30 bracket levels of a dot-bracket "
        "and are left out of it (--format bpseq, ct or json lists them)\n"
    )


def test_windows_1252_and_utf16_input(capsys, model_dir, tmp_path):
    (tmp_path / "cp1252.fa").write_bytes(">café\nGGGGAAACCCC\n".encode("cp1252"))
    (tmp_path / "utf16.fa").write_bytes(">naïve\nACGU\n".encode("utf-16"))
    code, out, err = run(capsys, "predict", str(tmp_path / "cp1252.fa"), str(tmp_path / "utf16.fa"), "--model", str(model_dir))
    assert code == 0, err
    assert out.splitlines()[0::3] == [">café", ">naïve"]


def test_plot_marks_predicted_pairs_above_the_diagonal():
    figure = cli.draw_prediction(cli.Record("r", "GGGAAACCC"), np.zeros((9, 9)), [(0, 8), (1, 7)])
    offsets = figure.axes[0].collections[0].get_offsets()
    assert [tuple(point) for point in offsets] == [(8, 0), (7, 1)]  # x = column j > y = row i: upper triangle
    assert "above the diagonal" in figure.axes[0].get_title()


def test_readme_python_example_runs_outside_the_repository(tmp_path):
    """The README's example, run from another directory: no Hub look-up, no load report on stderr."""
    readme = (REPO_ROOT / "README.md").read_text()
    example = readme.split("## Using the models from Python")[1].split("```python\n")[1].split("```")[0]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    environment.pop("SSRLM_MODEL", None)
    result = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 26 and "LOAD REPORT" not in result.stderr


def test_short_batches_run_on_one_thread_and_long_ones_on_torch_default():
    from modeling_ssrlm import cli

    default = cli._torch_default_threads()
    assert cli._threads_for(cli.ONE_THREAD_BELOW - 1) == 1
    assert cli._threads_for(cli.ONE_THREAD_BELOW) == default
