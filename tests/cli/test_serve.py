"""``ssrlm serve`` without a browser: reading and checking a request, predicting it, the app and the command."""

from __future__ import annotations

import gzip
import json
import runpy
import socket
from pathlib import Path

import numpy as np
import pytest

from modeling_ssrlm import SSRLMConfig
from modeling_ssrlm.cli import FileNames, InputError, Record, format_prediction, main, predict_structures, serve
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction
from modeling_ssrlm.secondary_structure import read_ct

pytest.importorskip("gradio", reason="ssrlm serve needs gradio (pip install 'ssrlm[serve]')")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    config = SSRLMConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        pair_hidden_channels=8, pair_num_blocks=1, pair_threshold=0.5,
    )  # fmt: skip
    SSRLMForPairPrediction(config).save_pretrained(folder)
    return folder


@pytest.fixture
def predictor(model_dir, tmp_path):
    model = SSRLMForPairPrediction.from_pretrained(model_dir).eval()
    return serve.Predictor(model, "tiny", tmp_path / "server", max_length=40)


def _read(predictor, text=None, upload=None):
    return predictor.read(text, upload, predictor.new_request_folder())


def _refusal(predictor, text=None, upload=None) -> str:
    with pytest.raises(InputError) as refused:
        _read(predictor, text, upload)
    message = str(refused.value)
    assert str(predictor.workdir) not in message  # the server's own paths never show
    return message


def test_pasted_plain_lines_are_numbered_like_plain_sequence_arguments(predictor):
    records = _read(predictor, "GGGGAAACCCC\n\n  acguacgu \n")
    assert [(record.id, record.sequence) for record in records] == [("seq1", "GGGGAAACCCC"), ("seq2", "ACGTACGT")]


def test_pasted_fasta_and_an_upload_are_read_together(predictor):
    upload = predictor.workdir / "upload" / "two.fa"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(gzip.compress(b">b\nACGU\n>c\nGGGAAACCC\n"))
    records = _read(predictor, ">a desc\nGGGG\nAAACCCC\n", str(upload))
    assert [(record.id, record.sequence) for record in records] == [("a", "GGGGAAACCCC"), ("b", "ACGT"), ("c", "GGGAAACCC")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ACGUXACGU", "record 'seq1': invalid character 'X' at position 4"),
        (">long\n" + "A" * 41, "record 'long': 41 nt is longer than --max-length 40"),
        (">empty\n\n>next\nACGU", "record 'empty': empty sequence"),
        ("/etc/passwd", "record 'seq1': invalid character '/'"),  # a pasted path is a bad sequence, never a file to read
        (">\nACGU", "the pasted text is not valid FASTA"),
        ("   \n", "paste a sequence or upload a FASTA file first"),
        ("ACGU\n" * (serve.MAX_RECORDS + 1), f"more than {serve.MAX_RECORDS} records"),
        ("A" * (serve.MAX_INPUT_BYTES + 1), "the pasted text is over the limit"),
    ],
    ids=["character", "too-long", "empty", "path", "not-fasta", "nothing", "too-many", "too-big"],
)
def test_bad_pasted_input_is_one_message(predictor, text, message):
    assert message in _refusal(predictor, text)


def test_uploads_are_read_only_from_the_server_folder_and_within_the_limit(predictor, tmp_path):
    outside = tmp_path / "outside.fa"
    outside.write_text(">a\nACGU\n")
    assert "not a file this server received" in _refusal(predictor, upload=str(outside))
    inside = predictor.workdir / "upload"
    inside.mkdir(parents=True)
    assert "not a file this server received" in _refusal(predictor, upload=str(inside / ".." / ".." / "outside.fa"))
    bomb = inside / "bomb.fa.gz"  # small on disk, over the limit once decompressed
    bomb.write_bytes(gzip.compress(b">a\n" + b"ACGU" * serve.MAX_INPUT_BYTES))
    assert "the uploaded file 'bomb.fa.gz' is over the limit" in _refusal(predictor, upload=str(bomb))
    notes = inside / "notes.txt"
    notes.write_text("hello\n")
    assert _refusal(predictor, upload=str(notes)).startswith("the uploaded file 'notes.txt' is not valid FASTA")


def test_request_folders_of_an_hour_ago_are_removed(predictor):
    old = predictor.new_request_folder()
    serve.os.utime(old, (0, 0))
    kept = predictor.new_request_folder()
    assert not old.exists() and kept.is_dir() and kept.parent == predictor.workdir / "requests"


def test_a_record_gives_the_files_of_ssrlm_predict(predictor):
    record = Record("tRNA/x", "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAG")
    folder = predictor.new_request_folder()
    console = serve._PageConsole()
    result = predictor.predict(record, folder, FileNames(console), console)
    [expected] = predict_structures(predictor.model, [record.sequence], serve.BATCH_TOKENS)
    assert result.dot_bracket == format_prediction(record, expected.pairs, "dbn")[0]
    assert [path.name for path in result.files] == [f"tRNA_x.{suffix}" for suffix in ("dbn", "bpseq", "ct", "json", "svg", "png")]
    assert all(path.parent == folder for path in result.files)
    assert read_ct(folder / "tRNA_x.ct") == (record.sequence.replace("T", "U"), expected.pairs)
    assert json.loads((folder / "tRNA_x.json").read_text())["id"] == "tRNA/x"
    assert result.drawing.svg.startswith("<?xml") and result.figure.stat().st_size > 1000


def test_build_app_keeps_gradio_in_a_private_folder_and_launches_locally(model_dir, monkeypatch):
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    monkeypatch.delenv("GRADIO_EXAMPLES_CACHE", raising=False)
    app = serve.build_app(model_dir)
    assert app.GRADIO_CACHE.rsplit("/", 1)[-1].startswith("ssrlm-serve-")
    options = serve.launch_options()
    assert options["server_name"] is None and options["share"] is False  # Gradio's default host: 127.0.0.1
    assert options["max_file_size"] == serve.MAX_INPUT_BYTES and options["mcp_server"] is False
    assert serve.os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_app_py_builds_the_page_with_the_default_model():
    """``app.py`` (a Hugging Face Space's entry point) builds the page when imported and launches only when run."""
    import gradio

    namespace = runpy.run_path(str(Path(__file__).resolve().parents[2] / "app.py"))
    assert isinstance(namespace["demo"], gradio.Blocks) and not namespace["demo"].is_running


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--model", "{tmp}"], "is not a model folder (no config.json)"),
        (["serve", "--port", "0"], "expected a positive integer"),
        (["serve", "--model", "{model}", "--port", "{taken}"], "cannot listen on 127.0.0.1:{taken}: the port is taken"),
    ],
    ids=["not-a-model", "bad-port", "port-taken"],
)
def test_serve_command_errors_are_one_line(capsys, tmp_path, model_dir, argv, message):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        values = {"tmp": tmp_path, "model": model_dir, "taken": taken.getsockname()[1]}
        code = main([arg.format(**values) for arg in argv])
    message = message.format(**values)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def structure_model(tmp_path_factory):
    from modeling_ssrlm.fold3d import SSRLMForStructurePrediction, SSRLMStructureConfig

    encoder = SSRLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    config = SSRLMStructureConfig(
        encoder_config=encoder.to_dict(), use_encoder=False, single_dim=16, pair_dim=8, outer_product_dim=4,
        num_trunk_blocks=1, num_trunk_heads=2, num_ipa_heads=2, ipa_head_dim=4, ipa_query_points=2,
        ipa_value_points=2, num_structure_iterations=2, floor_steps=30, default_mode="floor",
        floor_plddt_calibration=[0.4, 0.2, 0.3, -0.05],
    )  # fmt: skip
    return SSRLMForStructurePrediction(config).eval()


def test_a_record_gets_its_3d_model_next_to_its_files(predictor, structure_model, monkeypatch):
    from modeling_ssrlm.fold3d.inference import fold_sequence
    from modeling_ssrlm.fold3d.pdb_io import ATOM_INDEX, read_plddt, read_rna_chains, read_structure_text

    predictor.structure_model, predictor.structure_model_name = structure_model, "tiny-3d"
    record = Record("tRNA/x", "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAG")
    folder = predictor.new_request_folder()
    console = serve._PageConsole()
    result = predictor.predict(record, folder, FileNames(console), console)
    path = predictor.fold3d(result)
    assert path == folder / "tRNA_x.pdb" and result.files[-1] == path and len(result.files) == 7
    [chain] = read_rna_chains(read_structure_text(path), path.name)
    assert chain.sequence == record.sequence
    expected = fold_sequence(record.sequence, structure_model, "floor")
    np.testing.assert_allclose(read_plddt(path), expected.plddt, atol=0.01)  # B-factors: 2 decimals of 0-100
    np.testing.assert_allclose(chain.atom("C4'")[0], expected.positions[:, ATOM_INDEX["C4'"]], atol=1e-3)
    assert result.notes[-1].startswith("3D model tRNA_x.pdb: `tiny-3d` in mode floor, on the viennarna secondary")
    assert f"mean pLDDT {100 * expected.plddt.mean():.1f}" in result.notes[-1]
    assert predictor.fold3d(result) == path and len(result.files) == 7  # built once

    monkeypatch.setattr(serve, "MAX_3D_LENGTH", 20)
    longer = predictor.predict(Record("long", record.sequence), folder, FileNames(console), console)
    with pytest.raises(InputError, match="long is 30 nt: the page builds 3D models of up to 20 nt"):
        predictor.fold3d(longer)
    assert not (folder / "long.pdb").exists()


def test_without_a_3d_model_the_page_builds_the_floor(predictor):
    from modeling_ssrlm.fold3d.pdb_io import read_plddt

    record = Record("hairpin", "GGGGAAACCCCAUAUGGGGAAACCCC")
    folder = predictor.new_request_folder()
    console = serve._PageConsole()
    result = predictor.predict(record, folder, FileNames(console), console)
    path = predictor.fold3d(result)
    assert np.all(read_plddt(path) == 0) and "the A-form floor" in result.notes[-1] and "no pLDDT" in result.notes[-1]


def test_length_benchmark_times_each_mode_at_each_length(structure_model, tmp_path):
    from script_loader import load_script

    structure_model.save_pretrained(tmp_path / "model")
    out = tmp_path / "timing.json"
    benchmark = load_script("benchmarks/bench_fold3d_length.py")
    assert benchmark.main(["--model", str(tmp_path / "model"), "--lengths", "12", "20", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert list(result["seconds"]) == ["12", "20"]
    assert all(set(times) == {"floor", "network"} and min(times.values()) > 0 for times in result["seconds"].values())
    assert "| 20 |" in out.with_suffix(".md").read_text()
