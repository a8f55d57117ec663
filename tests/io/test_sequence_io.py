"""FASTA, Stockholm and dot-bracket readers, format detection and the FASTA writer."""

from __future__ import annotations

import gzip
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_ssrlm.io.sequences import (
    MAX_FILE_STEM,
    DotBracketRecord,
    SequenceFormatError,
    SequenceRecord,
    StockholmAlignment,
    read_dbn,
    read_fasta,
    read_sequence_file,
    read_stockholm,
    read_stockholm_alignments,
    record_file_name,
    write_fasta,
)

FASTA = """>seq1 first record
ACGU
acgu

>seq2
NNRY
>seq3 empty follows
"""

STOCKHOLM = """# STOCKHOLM 1.0
#=GF AC   RF00005
#=GF ID   tRNA
#=GS a/1-8 DE something
a/1-8      GC-GA.AU
b/2-7      G--GAUAU
#=GC SS_cons <<..>>..

a/1-8      CC~
b/2-7      ---
//
# STOCKHOLM 1.0
#=GF ID   noaccession
c          ACGU
//
"""

DBN = """>hp1 a hairpin
GGGGAAAACCCC
((((....)))) (-5.40)

>pk2
GGAAACCAAAGGAUCC
>>..<<..((..))..
"""


def write(path, text: str, compress: bool = False):
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_read_fasta_joins_lines_and_splits_headers(tmp_path, compress):
    path = write(tmp_path / "x.fa", FASTA, compress)  # gzip is detected from content, not the name
    assert list(read_fasta(path)) == [
        SequenceRecord("seq1", "first record", "ACGUacgu"),
        SequenceRecord("seq2", "", "NNRY"),
        SequenceRecord("seq3", "empty follows", ""),
    ]


def test_read_fasta_empty_file_has_no_records(tmp_path):
    assert list(read_fasta(write(tmp_path / "e.fa", ""))) == []


def test_read_fasta_rejects_text_before_first_header(tmp_path):
    path = write(tmp_path / "bad.fa", "\nACGU\n>x\nACGU\n")
    with pytest.raises(SequenceFormatError, match=r"bad\.fa:2: not a FASTA file.*'ACGU'"):
        list(read_fasta(path))


def test_read_fasta_rejects_empty_header(tmp_path):
    with pytest.raises(SequenceFormatError, match=r"h\.fa:3: empty header"):
        list(read_fasta(write(tmp_path / "h.fa", ">a\nAC\n>  \nGG\n")))


def test_read_fasta_binary_file_fails_naming_line_one(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\xff\xfe binary")
    with pytest.raises(SequenceFormatError, match=r"blob\.bin:1: not a FASTA file"):
        list(read_fasta(path))


@pytest.mark.parametrize("compress", [False, True])
def test_read_stockholm_ungaps_joins_blocks_and_names_family(tmp_path, compress):
    path = write(tmp_path / "f.sto", STOCKHOLM, compress)
    assert list(read_stockholm(path)) == [
        SequenceRecord("a/1-8", "RF00005", "GCGAAUCC"),
        SequenceRecord("b/2-7", "RF00005", "GGAUAU"),
        SequenceRecord("c", "noaccession", "ACGU"),
    ]


def test_read_stockholm_alignments_keeps_gaps_and_joins_annotations(tmp_path):
    text = STOCKHOLM.replace("#=GF ID   tRNA", "#=GF ID   tRNA\n#=GF CC   first line\n#=GF CC   second")
    text = text.replace("b/2-7      ---\n", "b/2-7      ---\n#=GC SS_cons ...\n")
    archive = tmp_path / "seeds.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(write(tmp_path / "f.sto", text, compress=True), arcname="sto/f.sto")
    for path in (tmp_path / "f.sto", archive):  # a (gzip) Stockholm file, or a tar archive of them
        first, second = read_stockholm_alignments(path)
        assert first == StockholmAlignment(
            "RF00005",
            {"a/1-8": "GC-GA.AUCC~", "b/2-7": "G--GAUAU---"},
            {"AC": "RF00005", "ID": "tRNA", "CC": "first line second"},
            {"SS_cons": "<<..>>....."},
        )
        assert second == StockholmAlignment("noaccession", {"c": "ACGU"}, {"ID": "noaccession"}, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a ACGU\n//\n", r"s\.sto:1: not a Stockholm file"),
        ("# STOCKHOLM 1.0\na ACGU\n", r"s\.sto: the alignment starting at line 1 is not closed by '//'"),
        ("# STOCKHOLM 1.0\na AC GU\n//\n", r"s\.sto:2: expected an alignment row 'name sequence', found 3 fields"),
        (
            "# STOCKHOLM 1.0\na ACGU\n# STOCKHOLM 1.0\n",
            r"s\.sto:3: new alignment starts before '//' closed the one at line 1",
        ),
    ],
)
def test_read_stockholm_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(SequenceFormatError, match=message):
        list(read_stockholm(write(tmp_path / "s.sto", text)))


def test_read_dbn_reads_triples_even_when_structure_starts_with_angle_bracket(tmp_path):
    assert list(read_dbn(write(tmp_path / "x.dbn", DBN))) == [
        DotBracketRecord("hp1", "a hairpin", "GGGGAAAACCCC", "((((....))))"),
        DotBracketRecord("pk2", "", "GGAAACCAAAGGAUCC", ">>..<<..((..)).."),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (">a\nACGU\n((.)).\n", r"d\.dbn:3: structure length 6 differs from sequence length 4"),
        (">a\nACGU\n(..)\n\n>b\nACGU\n", r"d\.dbn:5: incomplete record"),
        ("a\nACGU\n(..)\n", r"d\.dbn:1: expected a header line starting with '>'"),
    ],
)
def test_read_dbn_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(SequenceFormatError, match=message):
        list(read_dbn(write(tmp_path / "d.dbn", text)))


def test_read_sequence_file_detects_each_format_and_reads_tar_members(tmp_path):
    fasta = write(tmp_path / "a.txt", FASTA)
    sto = write(tmp_path / "b.dat", STOCKHOLM, compress=True)
    dbn = write(tmp_path / "c.fa", DBN)
    assert [r.id for r in read_sequence_file(fasta)] == ["seq1", "seq2", "seq3"]
    assert [r.id for r in read_sequence_file(sto)] == ["a/1-8", "b/2-7", "c"]
    assert list(read_sequence_file(dbn)) == [
        SequenceRecord("hp1", "a hairpin", "GGGGAAAACCCC"),
        SequenceRecord("pk2", "", "GGAAACCAAAGGAUCC"),
    ]
    archive = tmp_path / "all.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for member in (sto, fasta):
            tar.add(member, arcname=f"dir/{member.name}")
        tar.addfile(tarfile.TarInfo("dir/sub"))  # a non-file member is skipped
    assert [r.id for r in read_sequence_file(archive)] == ["a/1-8", "b/2-7", "c", "seq1", "seq2", "seq3"]


def test_read_sequence_file_rejects_unknown_content(tmp_path):
    with pytest.raises(SequenceFormatError, match=r"x\.csv:1: unrecognised sequence file.*'id,sequence'"):
        list(read_sequence_file(write(tmp_path / "x.csv", "\n\nid,sequence\na,ACGU\n")))


def test_read_sequence_file_names_the_tar_member(tmp_path):
    bad = write(tmp_path / "bad.sto", "# STOCKHOLM 1.0\nx ACGU\n")
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(bad, arcname="bad.sto")
    with pytest.raises(SequenceFormatError, match=r"a\.tar:bad\.sto: the alignment starting at line 1"):
        list(read_sequence_file(archive))


def test_write_fasta_rejects_ids_with_whitespace(tmp_path):
    with pytest.raises(ValueError, match="'a b'"):
        write_fasta([SequenceRecord("a b", "", "ACGU")], tmp_path / "x.fa")


_ids = st.text("abcXYZ019_|./-", min_size=1, max_size=12)
_records = st.lists(
    st.builds(SequenceRecord, _ids, st.sampled_from(["", "desc", "RF00001 tRNA"]), st.text("ACGUTN", max_size=30)),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(records=_records, compress=st.booleans())
def test_write_fasta_round_trips(tmp_path_factory, records, compress):
    path = tmp_path_factory.mktemp("fa") / ("out.fa.gz" if compress else "out.fa")
    assert write_fasta(records, path) == len(records)
    assert list(read_fasta(path)) == records
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress


def test_windows_1252_headers_keep_their_letters(tmp_path):
    path = tmp_path / "cp1252.fa"
    path.write_bytes(">café résumé €\n".encode("cp1252") + b"ACGU\n>\x81x\nGG\n")
    records = list(read_fasta(path))
    assert records[0] == SequenceRecord("café", "résumé €", "ACGU")
    assert records[1].id == "\x81x"  # a byte Windows-1252 leaves undefined is read as Latin-1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-32"])
def test_unicode_encodings_are_detected(tmp_path, encoding):
    path = tmp_path / f"{encoding}.fa"
    path.write_bytes(">ü1 desc\nACGU\nAA\n>two\nGG\n".encode(encoding))
    assert list(read_fasta(path)) == [SequenceRecord("ü1", "desc", "ACGUAA"), SequenceRecord("two", "", "GG")]


def test_gzipped_utf16_is_detected_after_decompression(tmp_path):
    path = tmp_path / "x.fa.gz"
    path.write_bytes(gzip.compress(">a\nACGU\n".encode("utf-16")))
    assert list(read_fasta(path)) == [SequenceRecord("a", "", "ACGU")]


@pytest.mark.parametrize(
    "damage", [lambda data: data[: len(data) // 2], lambda data: data[:12] + b"\xff" * 8 + data[20:]]
)
def test_damaged_gzip_raises_sequence_format_error(tmp_path, damage):
    path = tmp_path / "damaged.fa.gz"
    path.write_bytes(damage(gzip.compress(b">a\n" + b"ACGU" * 5000 + b"\n")))
    with pytest.raises(SequenceFormatError, match=r"damaged\.fa\.gz: damaged gzip data"):
        list(read_fasta(path))


def test_record_file_names_are_safe_and_bounded():
    assert record_file_name("a/b c") == "a_b_c"
    assert record_file_name("../..") == "record"
    assert len(record_file_name("x" * 1000)) == MAX_FILE_STEM


@pytest.mark.parametrize(
    ("mode", "message"), [(None, "damaged gzip data"), ("w:gz", "damaged gzip data"), ("w", "damaged tar archive")]
)
def test_read_sequence_file_reports_damaged_archives(tmp_path, mode, message):
    path = tmp_path / "damaged.tar"
    if mode is None:
        path.write_bytes(b"\x1f\x8b")  # the gzip magic alone
    else:  # a real archive, cut in the middle of its member
        source = write(tmp_path / "a.fa", ">a\n" + "ACGU" * 5000 + "\n")
        with tarfile.open(path, mode) as archive:
            archive.add(source, arcname="a.fa")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SequenceFormatError, match=rf"damaged\.tar.*: {message}"):
        list(read_sequence_file(path))
