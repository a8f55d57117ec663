"""Readers and a writer for the nucleotide sequence files of the pre-training corpus.

Three text formats are read, each plain or gzip-compressed (recognised by the gzip magic bytes, not by
the file name):

* **FASTA** (:func:`read_fasta`): ``>id description`` headers followed by one or more sequence lines.
* **Stockholm** (:func:`read_stockholm`): one or more alignments per file, each opened by
  ``# STOCKHOLM 1.0`` and closed by ``//``; interleaved blocks are joined per sequence name and the
  gap characters ``- . _ ~`` removed, so each aligned row becomes one ungapped record. The record's
  ``description`` is the family accession (``#=GF AC``), or the family ID (``#=GF ID``) when the
  alignment has no accession, so Rfam seeds read from Stockholm match the ``>name family`` headers
  of the ungapped Rfam FASTA. :func:`read_stockholm_alignments` returns the alignments themselves
  (:class:`StockholmAlignment`: gapped rows, ``#=GF`` and ``#=GC`` annotations such as the consensus
  structure ``SS_cons``), from a Stockholm file or a tar archive of them; both readers share one parser.
* **FASTA-style dot-bracket** (:func:`read_dbn`): records of exactly three lines, ``>id``, sequence,
  structure. Records are read as line triples rather than split at ``>``, because ``>`` is also a
  pseudoknot bracket and may start a structure line. A trailing free-energy field on the structure
  line (RNAfold output, ``((..)) (-1.20)``) is ignored.

:func:`read_sequence_file` detects the format from the content and also walks tar archives (e.g. the
Rfam Stockholm tarball), reading every regular member. Readers return sequences exactly as written
(gaps excepted): alphabet checks and normalisation are the job of
:func:`modeling_ssrlm.tokenization_ssrlm.normalize_sequence`. Malformed input raises
:class:`SequenceFormatError`, a :class:`ValueError` naming the file and the line.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import re
import os
import tarfile
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple

PathLike = str | os.PathLike

#: Characters removed from Stockholm alignment rows to obtain the ungapped sequence.
GAP_CHARACTERS = "-._~"
#: Characters of a dot-bracket line (brackets of every pseudoknot level plus WUSS unpaired marks).
DOT_BRACKET_CHARACTERS = frozenset("()[]{}<>.,:-_~")

_GZIP_MAGIC = b"\x1f\x8b"
_STOCKHOLM_HEADER = "# STOCKHOLM"


class SequenceFormatError(ValueError):
    """A sequence file does not follow the format it is read as."""


class SequenceRecord(NamedTuple):
    """One sequence: ``id`` (first word of the header), ``description`` (rest of it), ``sequence``."""

    id: str
    description: str
    sequence: str


class StockholmAlignment(NamedTuple):
    """One alignment of a Stockholm file, as written (gaps kept).

    ``family`` is the accession (``#=GF AC``), or the ID (``#=GF ID``) when there is none.
    ``rows`` maps each sequence name to its aligned row, interleaved blocks joined, in file order.
    ``file_annotations`` maps ``#=GF`` features (``AC``, ``ID``, ``CL``, ...) to their text, lines of a
    repeated feature joined by a space; ``column_annotations`` maps ``#=GC`` features (``SS_cons``,
    ``RF``, ...) to their line, blocks joined. Row and annotation lengths are not checked here.
    """

    family: str
    rows: dict[str, str]
    file_annotations: dict[str, str]
    column_annotations: dict[str, str]


class DotBracketRecord(NamedTuple):
    """One record of a FASTA-style dot-bracket file."""

    id: str
    description: str
    sequence: str
    structure: str


@contextlib.contextmanager
def _text_lines(source: PathLike | IO[bytes]) -> Iterator[IO[str]]:
    """Open a path or binary file object as text, decompressing gzip when the magic bytes say so.

    Undecodable bytes are replaced rather than raising, so that a binary file fails with the
    reader's "not a FASTA/Stockholm file" message, which names the line.
    """
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(open(source, "rb")) if isinstance(source, (str, os.PathLike)) else source
        buffered = raw if hasattr(raw, "peek") else stack.enter_context(io.BufferedReader(raw))
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            buffered = stack.enter_context(gzip.GzipFile(fileobj=buffered))
        text = io.TextIOWrapper(buffered, encoding="utf-8", errors="replace")
        try:
            yield text
        finally:
            text.detach()


def _source_name(source: PathLike | IO[bytes]) -> str:
    """The name used in error messages: the path, or the file object's name (e.g. ``<stdin>``)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


def _split_header(header: str, where: str) -> tuple[str, str]:
    """Split a FASTA header (without ``>``) into id and description."""
    fields = header.split(None, 1)
    if not fields:
        raise SequenceFormatError(f"{where}: empty header line")
    return fields[0], fields[1] if len(fields) == 2 else ""


def _parse_fasta(lines: Iterable[str], name: str) -> Iterator[SequenceRecord]:
    """FASTA records from text lines; ``name`` prefixes error messages."""
    header: tuple[str, str] | None = None
    chunks: list[str] = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            if header is not None:
                yield SequenceRecord(*header, "".join(chunks))
            header, chunks = _split_header(line[1:], f"{name}:{number}"), []
        elif header is None:
            raise SequenceFormatError(
                f"{name}:{number}: not a FASTA file: expected a header line starting with '>', found {line[:40]!r}"
            )
        else:
            chunks.append(line)
    if header is not None:
        yield SequenceRecord(*header, "".join(chunks))


def _parse_stockholm_alignments(lines: Iterable[str], name: str) -> Iterator[StockholmAlignment]:
    """Every alignment in Stockholm text lines, yielded when its ``//`` is read."""
    rows: dict[str, list[str]] | None = None  # None outside an alignment
    file_annotations: dict[str, list[str]] = {}
    column_annotations: dict[str, list[str]] = {}
    opened_at = 0
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(_STOCKHOLM_HEADER):
            if rows is not None:
                raise SequenceFormatError(
                    f"{name}:{number}: new alignment starts before '//' closed the one at line {opened_at}"
                )
            rows, file_annotations, column_annotations, opened_at = {}, {}, {}, number
        elif rows is None:
            raise SequenceFormatError(
                f"{name}:{number}: not a Stockholm file: expected '# STOCKHOLM 1.0' before any data, "
                f"found {line[:40]!r}"
            )
        elif line == "//":
            gf = {feature: " ".join(texts) for feature, texts in file_annotations.items()}
            yield StockholmAlignment(
                gf.get("AC") or gf.get("ID", ""),
                {seq_name: "".join(blocks) for seq_name, blocks in rows.items()},
                gf,
                {feature: "".join(blocks) for feature, blocks in column_annotations.items()},
            )
            rows = None
        elif line.startswith(("#=GF", "#=GC")):
            fields = line.split(None, 2)
            if len(fields) == 3:
                annotations = file_annotations if fields[0] == "#=GF" else column_annotations
                annotations.setdefault(fields[1], []).append(fields[2].strip())
        elif not line.startswith("#"):
            fields = line.split()
            if len(fields) != 2:
                raise SequenceFormatError(
                    f"{name}:{number}: expected an alignment row 'name sequence', found {len(fields)} fields"
                )
            rows.setdefault(fields[0], []).append(fields[1])
    if rows is not None:
        raise SequenceFormatError(f"{name}: the alignment starting at line {opened_at} is not closed by '//'")


def _parse_stockholm(lines: Iterable[str], name: str) -> Iterator[SequenceRecord]:
    """Ungapped records of every alignment in Stockholm text lines."""
    table = str.maketrans("", "", GAP_CHARACTERS)
    for alignment in _parse_stockholm_alignments(lines, name):
        for seq_name, row in alignment.rows.items():
            yield SequenceRecord(seq_name, alignment.family, row.translate(table))


def _parse_dbn(lines: Iterable[str], name: str) -> Iterator[DotBracketRecord]:
    """Dot-bracket records from text lines, read as non-blank line triples."""
    numbered = ((number, line.strip()) for number, line in enumerate(lines, start=1) if line.strip())
    while triple := list(itertools.islice(numbered, 3)):
        if len(triple) < 3:
            raise SequenceFormatError(
                f"{name}:{triple[0][0]}: incomplete record: expected header, sequence and structure lines"
            )
        (number, header), (_, sequence), (structure_number, structure) = triple
        if not header.startswith(">"):
            raise SequenceFormatError(
                f"{name}:{number}: expected a header line starting with '>', found {header[:40]!r}"
            )
        structure = structure.split()[0]
        if len(structure) != len(sequence):
            raise SequenceFormatError(
                f"{name}:{structure_number}: structure length {len(structure)} "
                f"differs from sequence length {len(sequence)}"
            )
        yield DotBracketRecord(*_split_header(header[1:], f"{name}:{number}"), sequence, structure)


def read_fasta(path: PathLike | IO[bytes]) -> Iterator[SequenceRecord]:
    """Yield the records of a FASTA file or binary stream (plain or gzip), joining multi-line sequences."""
    with _text_lines(path) as handle:
        yield from _parse_fasta(handle, _source_name(path))


def read_stockholm(path: PathLike) -> Iterator[SequenceRecord]:
    """Yield one ungapped record per aligned sequence of every alignment in a Stockholm file."""
    with _text_lines(path) as handle:
        yield from _parse_stockholm(handle, _source_name(path))


def read_stockholm_alignments(path: PathLike) -> Iterator[StockholmAlignment]:
    """Yield every alignment of a Stockholm file, or of every regular member of a tar archive of them.

    Files and members may be gzip-compressed; archive members are read in archive order (the Rfam
    seed tarball holds one ``RFxxxxx.sto`` per family).
    """
    for handle, name in _text_sources(path):
        yield from _parse_stockholm_alignments(handle, name)


def read_dbn(path: PathLike) -> Iterator[DotBracketRecord]:
    """Yield the records of a FASTA-style dot-bracket file (``>id`` / sequence / structure)."""
    with _text_lines(path) as handle:
        yield from _parse_dbn(handle, _source_name(path))


def _detect_format(head: list[str], name: str) -> str:
    """Return ``"fasta"``, ``"stockholm"`` or ``"dbn"`` from the first non-blank lines of a file."""
    if not head:
        return "fasta"  # an empty file holds no records in any format
    if head[0].startswith(_STOCKHOLM_HEADER):
        return "stockholm"
    if head[0].startswith(">"):
        third = head[2].split()[0] if len(head) >= 3 else ""
        is_structure = bool(third) and not head[1].startswith(">") and set(third) <= DOT_BRACKET_CHARACTERS
        return "dbn" if is_structure else "fasta"
    raise SequenceFormatError(
        f"{name}:1: unrecognised sequence file: expected FASTA ('>'), Stockholm ('# STOCKHOLM') or "
        f"dot-bracket records, found {head[0][:40]!r}"
    )


_PARSERS = {"fasta": _parse_fasta, "stockholm": _parse_stockholm}


def _read_detected(handle: IO[str], name: str) -> Iterator[SequenceRecord]:
    """Detect the format from the first three non-blank lines, then parse the whole stream."""
    head: list[str] = []
    lines = iter(handle)
    consumed: list[str] = []
    for line in lines:
        consumed.append(line)
        if line.strip():
            head.append(line.strip())
            if len(head) == 3:
                break
    fmt = _detect_format(head, name)
    replay = itertools.chain(consumed, lines)
    if fmt == "dbn":
        for record in _parse_dbn(replay, name):
            yield SequenceRecord(record.id, record.description, record.sequence)
    else:
        yield from _PARSERS[fmt](replay, name)


def _text_sources(path: PathLike) -> Iterator[tuple[IO[str], str]]:
    """Yield ``(text handle, name for messages)`` for a file, or for each regular member of a tar archive.

    Each handle is valid until the next one is requested (tar archives of any compression are read
    member by member, in archive order; gzip is detected from the magic bytes).
    """
    name = os.fspath(path)
    if tarfile.is_tarfile(name):
        with tarfile.open(name) as archive:
            for member in archive:
                if member.isfile():
                    with _text_lines(archive.extractfile(member)) as handle:
                        yield handle, f"{name}:{member.name}"
        return
    with _text_lines(path) as handle:
        yield handle, name


def read_sequence_file(path: PathLike) -> Iterator[SequenceRecord]:
    """Yield the sequences of a FASTA, Stockholm or dot-bracket file, or of every file in a tar archive.

    The format is detected from the content (the first non-blank lines), so extensions do not matter;
    gzip is detected from the magic bytes. Tar archives (any compression) are read member by member
    in archive order; every regular member must be one of the three formats. Dot-bracket structures
    are dropped: only the sequences are returned.
    """
    for handle, name in _text_sources(path):
        yield from _read_detected(handle, name)


def write_fasta(records: Iterable[SequenceRecord], path: PathLike) -> int:
    """Write records as FASTA (one sequence line each; gzip when ``path`` ends in ``.gz``).

    Returns the number of records written. Raises ``ValueError`` for an id that is empty or contains
    whitespace, since it would not read back as the same id.
    """
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    count = 0
    with opener(path, "wt", encoding="utf-8") as handle:
        for record in records:
            if not record.id or len(record.id.split()) != 1 or record.id != record.id.strip():
                raise ValueError(f"record id {record.id!r} must be a non-empty word without whitespace")
            header = f"{record.id} {record.description}".rstrip()
            handle.write(f">{header}\n{record.sequence}\n")
            count += 1
    return count


def record_file_name(identifier: str) -> str:
    """A file-system-safe name for a record id: characters other than ``A-Za-z0-9._-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", identifier).strip("._") or "record"
