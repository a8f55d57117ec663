"""Fuzzing: random bytes, random FASTA and random dot-brackets into the readers, the writers and
``ssrlm predict``. Readers may only raise their own format error; writers must round-trip; the CLI must
end in exit 0, or in exit 2 with exactly one error line, and never in a traceback.

The CLI runs with a stand-in model (dense random pairs, so deep pseudoknots reach the dot-bracket
writer); the real model's path is tested in ``test_cli.py``. Bounded to run in well under 30 s.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import zlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeling_ssrlm import cli
from modeling_ssrlm.io.sequences import SequenceFormatError, read_dbn, read_fasta, read_sequence_file, read_stockholm
from modeling_ssrlm.modeling_ssrlm_pair import PairPrediction
from modeling_ssrlm.secondary_structure import (
    StructureError,
    format_dot_bracket,
    parse_dot_bracket,
    read_bpseq,
    read_ct,
)

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def truncated_gzip(data: bytes) -> st.SearchStrategy[bytes]:
    compressed = gzip.compress(data)
    return st.integers(0, len(compressed)).map(lambda n: compressed[:n])


random_files = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).flatmap(truncated_gzip),
    st.text(max_size=200).map(lambda text: text.encode("utf-16")),
)

# --------------------------------------------------------------------------- readers


@FUZZ
@given(data=random_files)
@pytest.mark.parametrize("reader", [read_fasta, read_dbn, read_stockholm, read_sequence_file])
def test_sequence_readers_raise_only_their_format_error(scratch, reader, data):
    path = scratch / "random.bin"
    path.write_bytes(data)
    with contextlib.suppress(SequenceFormatError):
        for record in reader(path):
            assert isinstance(record.id, str) and isinstance(record.sequence, str)


table_rows = st.lists(
    st.tuples(st.integers(-1, 8), st.sampled_from(["A", "C", "G", "U", "x", "é"]), st.integers(-1, 8)), max_size=8
)


@FUZZ
@given(data=st.one_of(random_files, table_rows.map(lambda rows: "".join(f"{i} {b} {p}\n" for i, b, p in rows).encode())))
@pytest.mark.parametrize("reader", [read_bpseq, read_ct])
def test_structure_readers_raise_only_structure_error(reader, data):
    with contextlib.suppress(StructureError):
        sequence, pairs = reader(io.BytesIO(data))
        assert all(0 <= i < j < len(sequence) for i, j in pairs)


@FUZZ
@given(st.text(alphabet="..((()))[[]]{}<>Aa-_,:~x ", max_size=60))
def test_random_dot_brackets_parse_or_raise_structure_error(text):
    try:
        pairs = parse_dot_bracket(text)
    except StructureError:
        return
    structure, unplaced = format_dot_bracket(pairs, len(text))  # at most 5 levels: the writer needs no more than 30
    assert unplaced == [] and parse_dot_bracket(structure) == pairs


# --------------------------------------------------------------------------- writers


@st.composite
def predictions(draw):
    """A record id as the FASTA reader makes them (any characters but whitespace), a sequence and random pairs."""
    identifier = "".join(draw(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)).split())
    length = draw(st.integers(1, 120))
    order = draw(st.permutations(range(length)))
    n_pairs = draw(st.integers(0, length // 2))
    pairs = sorted(tuple(sorted(order[2 * k : 2 * k + 2])) for k in range(n_pairs))
    sequence = draw(st.text(alphabet="ACGUN", min_size=length, max_size=length))
    return cli.Record(identifier or "x", sequence), pairs


@FUZZ
@given(predictions())
def test_every_format_writes_what_reads_back(prediction):
    record, pairs = prediction
    text, unplaced = cli.format_prediction(record, pairs, "dbn")
    header, sequence, structure = text.splitlines()
    assert header == f">{record.id}" and sequence == record.sequence
    assert sorted(parse_dot_bracket(structure) + unplaced) == pairs
    payload = json.loads(cli.format_prediction(record, pairs, "json")[0])
    assert payload["id"] == record.id and [tuple(p) for p in payload["pairs"]] == pairs
    assert payload["pairs_not_in_structure"] == [list(p) for p in unplaced]
    for fmt, reader in (("bpseq", read_bpseq), ("ct", read_ct)):
        assert reader(io.StringIO(cli.format_prediction(record, pairs, fmt)[0])) == (record.sequence, pairs)


@FUZZ
@given(st.lists(st.text(max_size=12), max_size=12))
def test_file_names_are_safe_unique_and_stable(identifiers):
    stems = [cli.FileNames(cli.Console("predict")).stem for _ in range(2)]
    with contextlib.redirect_stderr(io.StringIO()):
        first, second = ([stem(i) for i in identifiers] for stem in stems)
    assert first == second
    assert len({name.lower() for name in first}) == len(first)
    assert all(name and "/" not in name and not name.startswith(".") and len(name) < 240 for name in first)


# --------------------------------------------------------------------------- the command line


class DenseRandomModel:
    """Stands in for the pair model: a random matching of about 40 % of the bases of each sequence."""

    def predict(self, sequences, batch_tokens, prior_workers=1):
        return [PairPrediction(s, np.zeros((len(s), len(s)), np.float32), self._pairs(s)) for s in sequences]

    @staticmethod
    def _pairs(sequence: str) -> list[tuple[int, int]]:
        order = np.random.default_rng(zlib.crc32(sequence.encode())).permutation(len(sequence))
        n_pairs = int(0.2 * len(sequence))
        return sorted(tuple(sorted(int(x) for x in order[2 * k : 2 * k + 2])) for k in range(n_pairs))


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(cli, "load_model", lambda *args: DenseRandomModel()):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def check_contract(code: int, out: str, err: str, fmt: str) -> None:
    """Exit 0, or 2 with exactly one error line (the last); notes only otherwise; whole records on stdout."""
    lines = err.splitlines()
    assert code in (0, 2), err
    assert all(line.startswith("ssrlm predict: note: ") for line in lines[: len(lines) - (code == 2)]), err
    if code == 2:
        assert lines and lines[-1].startswith("ssrlm predict: error: "), err
    if fmt == "dbn":
        records = out.splitlines()
        assert len(records) % 3 == 0
        for sequence, structure in zip(records[1::3], records[2::3]):
            assert len(sequence) == len(structure)
    else:
        for line in out.splitlines():
            record = json.loads(line)
            assert len(record["structure"]) == len(record["sequence"])


fasta_texts = st.lists(
    st.tuples(
        st.text(st.characters(exclude_categories=("Cs",)), max_size=15),
        st.lists(st.text(alphabet="ACGUTNacgunry-*. X", max_size=70), max_size=3),
    ),
    max_size=5,
).map(lambda records: "".join(f">{header}\n" + "".join(f"{line}\n" for line in lines) for header, lines in records))

dbn_texts = st.lists(
    st.tuples(st.text(alphabet="ACGU", min_size=1, max_size=40), st.text(alphabet="().[]", max_size=40)), max_size=4
).map(lambda records: "".join(f">r{k}\n{seq}\n{db}\n" for k, (seq, db) in enumerate(records)))


@FUZZ
@given(
    content=st.one_of(fasta_texts.map(str.encode), dbn_texts.map(str.encode), random_files),
    fmt=st.sampled_from(["dbn", "json"]),
    skip_invalid=st.booleans(),
)
def test_cli_never_ends_in_a_traceback(scratch, content, fmt, skip_invalid):
    path = scratch / "input.fa"
    path.write_bytes(content)
    argv = ["predict", str(path), "--format", fmt, "--max-length", "150", *(["--skip-invalid"] * skip_invalid)]
    check_contract(*run_cli(argv), fmt)


@settings(max_examples=15, deadline=None)
@given(content=fasta_texts.map(str.encode), fmt=st.sampled_from(["dbn", "bpseq", "ct", "json"]))
def test_cli_files_per_record_never_end_in_a_traceback(scratch, content, fmt):
    path, out_dir = scratch / "input.fa", scratch / "out"
    path.write_bytes(content)
    code, _, err = run_cli(["predict", str(path), "--format", fmt, "--out", str(out_dir), "--overwrite", "--skip-invalid"])
    assert code in (0, 2) and err.count(" error: ") == code // 2, err
    assert not list(out_dir.glob("*.tmp"))
