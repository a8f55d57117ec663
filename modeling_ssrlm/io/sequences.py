"""Readers and a writer for the nucleotide sequence files of the pre-training corpus.

Three text formats are read, each plain or gzip-compressed (recognised by the gzip magic bytes, not by
the file name), in UTF-8 (bytes that are not UTF-8 are read as Windows-1252) or UTF-16/32:

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

import codecs
import contextlib
import gzip
import io
import itertools
import lzma
import re
import os
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, NamedTuple, TypeVar

PathLike = str | os.PathLike
_Parsed = TypeVar("_Parsed")

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


def _decode_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: read bytes that are not UTF-8 as Windows-1252.

    Hand-edited FASTA headers from Windows tools are the usual non-UTF-8 input; reading their bytes as
    Windows-1252 keeps ``café`` as ``café`` instead of replacing it (the five bytes that Windows-1252
    leaves undefined are read as Latin-1). Nothing is lost: every byte becomes one character.
    """
    if not isinstance(error, UnicodeDecodeError):
        raise error
    undecoded = error.object[error.start : error.end]
    text = "".join(bytes([byte]).decode("cp1252", errors="ignore") or chr(byte) for byte in undecoded)
    return text, error.end


codecs.register_error("ssrlm.cp1252", _decode_as_cp1252)

#: Byte-order marks and the encodings they announce (UTF-32 first: its little-endian mark starts like UTF-16's).
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _detect_encoding(head: bytes) -> str:
    """The text encoding of a file from its first bytes: a byte-order mark, else UTF-16 without one
    when a NUL byte sits next to the first character (no UTF-8 FASTA starts that way), else UTF-8."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return encoding
    if len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
        return "utf-16-be" if head[0] == 0 else "utf-16-le"
    return "utf-8"


@contextlib.contextmanager
def _text_lines(source: PathLike | IO[bytes], name: str) -> Iterator[IO[str]]:
    """Open a path or binary file object as text, decompressing gzip when the magic bytes say so.

    The encoding is detected (:func:`_detect_encoding`: UTF-8, or UTF-16/32 with or without a
    byte-order mark). Bytes that are not UTF-8 are read as Windows-1252 rather than raising or being
    replaced, so ids keep their letters and a binary file fails with the reader's "not a
    FASTA/Stockholm file" message, which names the line. Damaged gzip data raises
    :class:`SequenceFormatError` naming ``name``.
    """
    with contextlib.ExitStack() as stack:
        try:
            raw = stack.enter_context(open(source, "rb")) if isinstance(source, (str, os.PathLike)) else source
            buffered = raw if hasattr(raw, "peek") else stack.enter_context(io.BufferedReader(raw))
            if buffered.peek(2)[:2] == _GZIP_MAGIC:
                buffered = stack.enter_context(gzip.GzipFile(fileobj=buffered))
            encoding = _detect_encoding(buffered.peek(4)[:4])
            errors = "ssrlm.cp1252" if encoding == "utf-8" else "replace"
            text = io.TextIOWrapper(buffered, encoding=encoding, errors=errors)
            try:
                yield text
            finally:
                text.detach()
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise SequenceFormatError(f"{name}: damaged gzip data: {error}") from None


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
    with _text_lines(path, _source_name(path)) as handle:
        yield from _parse_fasta(handle, _source_name(path))


def read_stockholm(path: PathLike) -> Iterator[SequenceRecord]:
    """Yield one ungapped record per aligned sequence of every alignment in a Stockholm file."""
    with _text_lines(path, _source_name(path)) as handle:
        yield from _parse_stockholm(handle, _source_name(path))


def read_stockholm_alignments(path: PathLike) -> Iterator[StockholmAlignment]:
    """Yield every alignment of a Stockholm file, or of every regular member of a tar archive of them.

    Files and members may be gzip-compressed; archive members are read in archive order (the Rfam
    seed tarball holds one ``RFxxxxx.sto`` per family).
    """
    yield from _parse_sources(path, _parse_stockholm_alignments)


def read_dbn(path: PathLike | IO[bytes]) -> Iterator[DotBracketRecord]:
    """Yield the records of a FASTA-style dot-bracket file or binary stream (``>id`` / sequence / structure)."""
    with _text_lines(path, _source_name(path)) as handle:
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


def _parse_sources(path: PathLike, parse: Callable[[IO[str], str], Iterator[_Parsed]]) -> Iterator[_Parsed]:
    """Yield ``parse(text handle, name for messages)`` for a file, or for each regular member of a tar archive.

    Tar archives of any compression are read member by member, in archive order; gzip is detected
    from the magic bytes. A damaged archive raises :class:`SequenceFormatError`, also when the damage
    shows only while a member is being parsed.
    """
    name = os.fspath(path)
    if _is_tar_archive(name):
        try:
            with tarfile.open(name) as archive:
                for member in archive:
                    if member.isfile():
                        member_name = f"{name}:{member.name}"
                        with _text_lines(archive.extractfile(member), member_name) as handle:
                            yield from parse(handle, member_name)
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as error:
            raise SequenceFormatError(f"{name}: damaged tar archive: {error}") from None
        return
    with _text_lines(path, name) as handle:
        yield from parse(handle, name)


def read_sequence_file(path: PathLike) -> Iterator[SequenceRecord]:
    """Yield the sequences of a FASTA, Stockholm or dot-bracket file, or of every file in a tar archive.

    The format is detected from the content (the first non-blank lines), so extensions do not matter;
    gzip is detected from the magic bytes. Tar archives (any compression) are read member by member
    in archive order; every regular member must be one of the three formats. Dot-bracket structures
    are dropped: only the sequences are returned. A damaged archive raises :class:`SequenceFormatError`.
    """
    yield from _parse_sources(path, _read_detected)


def _is_tar_archive(name: str) -> bool:
    """:func:`tarfile.is_tarfile`, but damaged compressed data counts as "not an archive" (tarfile lets
    some decompression errors escape); the text reader then reports the damage with the file's name."""
    try:
        return tarfile.is_tarfile(name)
    except (EOFError, zlib.error, lzma.LZMAError):
        return False


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


#: Longest file name stem :func:`record_file_name` returns (file systems allow 255 bytes per name;
#: the rest is left for a collision suffix and the extension).
MAX_FILE_STEM = 200


def record_file_name(identifier: str) -> str:
    """A file-system-safe name for a record id: characters other than ``A-Za-z0-9._-`` become ``_``.

    Leading and trailing ``.``/``_`` are dropped (no hidden files), an empty result becomes ``record``
    and the name is cut to :data:`MAX_FILE_STEM` characters. Different ids can give the same name;
    callers writing one file per record must make names unique (``ssrlm predict --out`` does).
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", identifier).strip("._")[:MAX_FILE_STEM] or "record"
