"""RNA secondary-structure input/output and conversions.

A secondary structure is represented throughout the package as a sorted list of 0-based base
pairs ``(i, j)`` with ``i < j``. This module converts that representation to and from

* dot-bracket strings (nested ``()`` plus the pseudoknot brackets ``[]``, ``{}``, ``<>`` and the
  letter pairs ``Aa``, ``Bb``, ... ``Zz``: an upper-case letter opens, its lower-case twin closes).
  Unpaired positions may be written with any of the WUSS unpaired characters ``. , : - _ ~``,
  so Rfam ``SS_cons`` lines parse as well; :func:`to_dot_bracket` always writes ``.``. These 30
  bracket levels hold every known structure of the benchmark data (ArchiveII's rRNAs need three),
  but not every pair list (e.g. the noisy prediction of an untrained model):
  :func:`format_dot_bracket` writes what fits and returns the rest;
* BPSEQ files (``index base partner``, 1-based, ``0`` = unpaired; ``#`` comment lines allowed);
* CT files (connectivity tables, header ``N title`` or ``N ENERGY = ... title`` followed by
  ``N`` rows ``index base prev next partner natural_index``; only the first structure of a file
  holding several is read);
* symmetric contact matrices (``numpy`` float32, 1.0 for a pair, 0.0 elsewhere).

It also classifies base pairs (:func:`base_pair_type`: Watson-Crick AU/GC, GU wobble or
non-canonical), the single definition used by post-processing and metrics.

Readers take a path (``str`` or :class:`os.PathLike`) or an already open file object; a ``str`` is
always a path, never file content (wrap text in :class:`io.StringIO`). Binary file objects, such as
those returned by :meth:`tarfile.TarFile.extractfile`, are decoded as UTF-8, so members of
``archiveII.tar.gz`` can be read without unpacking the archive. Writers take a path or a writable
text file object.

Dot-bracket, BPSEQ and CT cannot hold base multiplets (one base in two pairs); a plain pair list or
a contact matrix can (see ``allow_multiplets`` in :func:`validate_pairs`). Every malformed input
raises :class:`StructureError`, a :class:`ValueError` naming the offending position(s).
"""

from __future__ import annotations

import contextlib
import io
import os
import string
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, NamedTuple

import numpy as np

from .tokenization_ssrlm import to_rna

Pair = tuple[int, int]
FileLike = str | os.PathLike | IO

#: Bracket levels in the order pseudoknot pages are assigned by :func:`to_dot_bracket`.
BRACKET_LEVELS: tuple[tuple[str, str], ...] = (("(", ")"), ("[", "]"), ("{", "}"), ("<", ">"))
BRACKET_LEVELS += tuple((letter, letter.lower()) for letter in string.ascii_uppercase)
#: Characters read as an unpaired position in a dot-bracket (WUSS) string.
UNPAIRED_CHARS = ".,:-_~"

_OPENER_LEVEL = {opener: level for level, (opener, _) in enumerate(BRACKET_LEVELS)}
_CLOSER_LEVEL = {closer: level for level, (_, closer) in enumerate(BRACKET_LEVELS)}


class StructureError(ValueError):
    """A secondary structure (string, file or pair list) is malformed."""


class StructureWarning(UserWarning):
    """A structure was written incompletely (pairs that a dot-bracket cannot show were left out)."""


# --------------------------------------------------------------------------------------------
# Base-pair types
# --------------------------------------------------------------------------------------------

WATSON_CRICK_PAIRS = frozenset({"AU", "UA", "GC", "CG"})
WOBBLE_PAIRS = frozenset({"GU", "UG"})


def base_pair_type(first: str, second: str) -> str:
    """Classify two nucleotides as ``"watson_crick"`` (AU, GC), ``"wobble"`` (GU) or ``"noncanonical"``.

    Case-insensitive; T is read as U. Anything else, including N and modified-base letters, is
    non-canonical.
    """
    key = to_rna(first + second)
    if key in WATSON_CRICK_PAIRS:
        return "watson_crick"
    return "wobble" if key in WOBBLE_PAIRS else "noncanonical"


# --------------------------------------------------------------------------------------------
# Pair lists
# --------------------------------------------------------------------------------------------


def validate_pairs(
    pairs: Iterable[Sequence[int]], length: int | None, allow_multiplets: bool = False
) -> list[Pair]:
    """Check a pair list against a sequence length and return it normalised.

    Each pair may be given in either orientation; the result holds ``(min, max)`` tuples of
    Python ints, sorted. Raises :class:`StructureError` for a pair that is not two integers, an
    index outside ``[0, length)`` (or negative, when ``length`` is None), a self pair
    ``(i, i)``, a pair listed twice, or (unless ``allow_multiplets``) a base that occurs in more
    than one pair.
    """
    partner_of: dict[int, int] = {}
    normalised: set[Pair] = set()
    for raw in pairs:
        i, j = _as_index_pair(raw)
        for index in (i, j):
            if index < 0:
                raise StructureError(f"pair {raw!r}: index {index} is negative")
            if length is not None and index >= length:
                raise StructureError(f"pair {raw!r}: index {index} is out of range for length {length}")
        if i == j:
            raise StructureError(f"pair {raw!r}: base {i} is paired with itself")
        pair = (min(i, j), max(i, j))
        if pair in normalised:
            raise StructureError(f"pair {pair} is listed more than once")
        normalised.add(pair)
        if not allow_multiplets:
            for base, partner in (pair, pair[::-1]):
                if base in partner_of:
                    raise StructureError(
                        f"base {base} is in two pairs, with {partner_of[base]} and {partner} "
                        "(multiplets are not allowed here)"
                    )
                partner_of[base] = partner
    return sorted(normalised)


def _as_index_pair(raw: Sequence[int]) -> Pair:
    """Return ``raw`` as two Python ints, raising :class:`StructureError` if it is not a pair."""
    try:
        first, second = raw
    except (TypeError, ValueError):
        raise StructureError(f"a pair must hold exactly two indices, got {raw!r}") from None
    if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in raw):
        raise StructureError(f"pair indices must be integers, got {raw!r}")
    return int(first), int(second)


def pairs_to_matrix(pairs: Iterable[Sequence[int]], length: int) -> np.ndarray:
    """Return the symmetric ``(length, length)`` float32 contact matrix of ``pairs``.

    Entries are 1.0 at ``[i, j]`` and ``[j, i]`` for every pair and 0.0 elsewhere (a float matrix
    so it can serve directly as a binary cross-entropy target). Multiplets are allowed.
    """
    matrix = np.zeros((length, length), dtype=np.float32)
    valid = validate_pairs(pairs, length, allow_multiplets=True)
    if valid:
        rows, cols = np.array(valid).T
        matrix[rows, cols] = 1.0
        matrix[cols, rows] = 1.0
    return matrix


def matrix_to_pairs(matrix: np.ndarray, threshold: float = 0.5) -> list[Pair]:
    """Return the pairs ``(i, j)``, ``i < j``, whose entry ``matrix[i, j]`` is strictly above ``threshold``.

    Only the strict upper triangle is read (symmetrise an asymmetric matrix first if both halves
    matter). No filtering or matching is done, so the result may contain multiplets; see
    :func:`modeling_ssrlm.postprocess.postprocess` for that.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise StructureError(f"contact matrix must be square, got shape {matrix.shape}")
    rows, cols = np.nonzero(np.triu(matrix > threshold, k=1))
    return [(int(i), int(j)) for i, j in zip(rows, cols)]


def check_length(sequence: str, structure: str) -> None:
    """Raise :class:`StructureError` unless ``sequence`` and ``structure`` have equal length."""
    if len(sequence) != len(structure):
        raise StructureError(
            f"sequence has {len(sequence)} nucleotides but the structure has {len(structure)} characters"
        )


# --------------------------------------------------------------------------------------------
# Dot-bracket
# --------------------------------------------------------------------------------------------


def parse_dot_bracket(structure: str) -> list[Pair]:
    """Parse a dot-bracket string (with pseudoknot brackets) into a sorted pair list.

    Each bracket type is matched with its own stack, so ``"((..[[..))..]]"`` gives
    ``[(0, 9), (1, 8), (4, 13), (5, 12)]``. Raises :class:`StructureError` naming the character and
    0-based position of an unknown character, an unmatched closing bracket or an unclosed
    opening bracket.
    """
    stacks: list[list[int]] = [[] for _ in BRACKET_LEVELS]
    pairs: list[Pair] = []
    for position, char in enumerate(structure):
        if char in _OPENER_LEVEL:
            stacks[_OPENER_LEVEL[char]].append(position)
        elif char in _CLOSER_LEVEL:
            stack = stacks[_CLOSER_LEVEL[char]]
            if not stack:
                raise StructureError(f"unmatched closing {char!r} at position {position} in dot-bracket")
            pairs.append((stack.pop(), position))
        elif char not in UNPAIRED_CHARS:
            raise StructureError(f"unknown character {char!r} at position {position} in dot-bracket")
    unclosed = [(stack[0], level) for level, stack in enumerate(stacks) if stack]
    if unclosed:
        position, level = min(unclosed)
        raise StructureError(
            f"unclosed opening {BRACKET_LEVELS[level][0]!r} at position {position} in dot-bracket"
        )
    return sorted(pairs)


class DotBracket(NamedTuple):
    """A dot-bracket string and the pairs it leaves out (``unplaced``, sorted; empty for real structures)."""

    structure: str
    unplaced: list[Pair]


def format_dot_bracket(pairs: Iterable[Sequence[int]], length: int) -> DotBracket:
    """Write a pair list as a dot-bracket string of ``length`` characters; never fails on pseudoknots.

    Pairs are assigned to pages (bracket levels ``()``, ``[]``, ``{}``, ``<>``, ``Aa``, ... ``Zz``)
    greedily: each pair, in order of its opening position, goes to the first level on which it
    crosses no pair already placed. Every level is then nested, so :func:`parse_dot_bracket` reads
    back exactly the placed pairs. If that order needs more than the 30 levels (noisy predictions
    can), the longest-span-first order is tried too and the assignment that leaves out fewer pairs
    wins; the pairs still left out are returned as ``unplaced`` (each of them crosses a placed pair
    on every level). Raises :class:`StructureError` only for an invalid pair list or a multiplet.
    """
    valid = validate_pairs(pairs, length, allow_multiplets=False)
    best: tuple[dict[Pair, int], list[Pair]] | None = None
    for order in _PAGE_ORDERS:
        levels, unplaced = _assign_levels(sorted(valid, key=order), length)
        if best is None or len(unplaced) < len(best[1]):
            best = levels, unplaced
        if not unplaced:
            break
    levels, unplaced = best
    chars = ["."] * length
    for (i, j), level in levels.items():
        chars[i], chars[j] = BRACKET_LEVELS[level]
    return DotBracket("".join(chars), sorted(unplaced))


def to_dot_bracket(pairs: Iterable[Sequence[int]], length: int) -> str:
    """The dot-bracket string of :func:`format_dot_bracket` (pseudoknots as ``[]``, ``{}``, ... levels).

    ``parse_dot_bracket(to_dot_bracket(pairs, n)) == pairs`` for every valid pair list that fits in
    30 levels. A pair list that does not fit is not an error: the pairs that do not fit are left out
    and a :class:`StructureWarning` says how many (call :func:`format_dot_bracket` to get them).
    Raises :class:`StructureError` for an invalid pair list or a multiplet.
    """
    structure, unplaced = format_dot_bracket(pairs, length)
    if unplaced:
        warnings.warn(
            f"{len(unplaced)} pairs, first {unplaced[0]}, need more than {len(BRACKET_LEVELS)} bracket levels "
            "and are left out of the dot-bracket (format_dot_bracket returns them)",
            StructureWarning,
            stacklevel=2,
        )
    return structure


#: Orders in which :func:`format_dot_bracket` tries to assign pages: by opening position (the
#: conventional output: the first helix gets ``()``), then longest span first (fewer levels for dense,
#: noisy pair lists, whose long pairs cross many short ones).
_PAGE_ORDERS: tuple[Callable[[Pair], tuple[int, ...]], ...] = (
    lambda pair: pair,
    lambda pair: (pair[0] - pair[1], pair[0]),
)


def _assign_levels(pairs: Sequence[Pair], length: int) -> tuple[dict[Pair, int], list[Pair]]:
    """Greedy page assignment of ``pairs`` in the given order: ``({pair: level}, pairs that fit no level)``."""
    # partners[level][k] is the partner of k among pairs on that level, or -1.
    partners: list[np.ndarray] = []
    levels: dict[Pair, int] = {}
    unplaced: list[Pair] = []
    for i, j in pairs:
        level = next((n for n, p in enumerate(partners) if not _crosses(p, i, j)), len(partners))
        if level == len(BRACKET_LEVELS):
            unplaced.append((i, j))
            continue
        if level == len(partners):
            partners.append(np.full(length, -1, dtype=np.int64))
        partners[level][[i, j]] = (j, i)
        levels[(i, j)] = level
    return levels, unplaced


def _crosses(partners: np.ndarray, i: int, j: int) -> bool:
    """Whether pair ``(i, j)`` crosses a pair of one level (a base inside pairs outside)."""
    inside = partners[i + 1 : j]
    return bool(np.any((inside >= 0) & ((inside < i) | (inside > j))))


# --------------------------------------------------------------------------------------------
# BPSEQ and CT files
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _open_text(file: FileLike, mode: str) -> Iterator[IO[str]]:
    """Open a path, or pass an open file object through (binary input decoded as UTF-8).

    Input that is not UTF-8 raises :class:`StructureError`, like any other malformed file.
    """
    try:
        if isinstance(file, (str, os.PathLike)):
            with open(file, mode, encoding="utf-8") as handle:
                yield handle
        elif "r" in mode and isinstance(file.read(0), bytes):
            wrapper = io.TextIOWrapper(file, encoding="utf-8")
            try:
                yield wrapper
            finally:
                wrapper.detach()  # leave the caller's binary file open
        else:
            yield file
    except UnicodeDecodeError as error:
        byte = error.object[error.start : error.start + 1].hex()
        raise StructureError(f"the file is not UTF-8 text (undecodable byte 0x{byte})") from None


def _data_lines(handle: IO[str], comment: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(1-based line number, fields)`` for non-blank (and non-comment) lines."""
    for number, line in enumerate(handle, start=1):
        fields = line.split()
        if fields and not (comment and fields[0].startswith(comment)):
            yield number, fields


def _table_to_pairs(rows: list[tuple[int, str, int]], source: str) -> tuple[str, list[Pair]]:
    """Turn ``(line number, base, 1-based partner)`` rows, one per base, into ``(sequence, pairs)``.

    Checks that each partner is in range, not the base itself, and names the base back.
    """
    length = len(rows)
    partners = [partner for _, _, partner in rows]
    pairs = []
    for index, (line, _, partner) in enumerate(rows, start=1):
        if partner == 0:
            continue
        if not 1 <= partner <= length or partner == index:
            raise StructureError(
                f"{source} line {line}: base {index} has invalid partner {partner} (length {length})"
            )
        if partners[partner - 1] != index:
            raise StructureError(
                f"{source} line {line}: base {index} pairs with {partner}, "
                f"but base {partner} pairs with {partners[partner - 1]}"
            )
        if index < partner:
            pairs.append((index - 1, partner - 1))
    return "".join(base for _, base, _ in rows), pairs


def _parse_row(
    fields: list[str], number: int, expected_index: int, source: str, partner_column: int
) -> tuple[str, int]:
    """Check a BPSEQ/CT row's index column and return its ``(base, partner)``.

    Both formats start with ``index base``; the partner is in column ``partner_column`` (0-based).
    """
    if len(fields) <= partner_column:
        raise StructureError(f"{source} line {number}: expected at least {partner_column + 1} columns")
    try:
        index, partner = int(fields[0]), int(fields[partner_column])
    except ValueError:
        raise StructureError(f"{source} line {number}: index and partner must be integers") from None
    if index != expected_index:
        raise StructureError(f"{source} line {number}: expected base index {expected_index}, got {index}")
    return fields[1], partner


def read_bpseq(file: FileLike) -> tuple[str, list[Pair]]:
    """Read a BPSEQ file and return ``(sequence, pairs)``.

    Lines starting with ``#`` (bpRNA headers) and blank lines are skipped. Indices must run
    1, 2, 3, ...; each partner must name the base back (so no multiplets).
    """
    with _open_text(file, "r") as handle:
        rows = []
        for number, fields in _data_lines(handle, comment="#"):
            base, partner = _parse_row(fields, number, len(rows) + 1, "BPSEQ", partner_column=2)
            rows.append((number, base, partner))
    if not rows:
        raise StructureError("BPSEQ file holds no bases")
    return _table_to_pairs(rows, "BPSEQ")


def read_ct(file: FileLike) -> tuple[str, list[Pair]]:
    """Read the first structure of a CT file and return ``(sequence, pairs)``.

    The header's first field is the number of bases ``N``; the rest (title, ``ENERGY = ...``) is
    ignored. The next ``N`` non-blank lines are the bases; any later structures are ignored.
    """
    with _open_text(file, "r") as handle:
        lines = _data_lines(handle)
        number, header = next(lines, (0, []))
        try:
            length = int(header[0])
        except (IndexError, ValueError):
            raise StructureError(f"CT line {number}: header must start with the number of bases") from None
        if length < 1:
            raise StructureError(f"CT line {number}: header announces {length} bases")
        rows = []
        for number, fields in lines:
            base, partner = _parse_row(fields, number, len(rows) + 1, "CT", partner_column=4)
            rows.append((number, base, partner))
            if len(rows) == length:
                break
    if len(rows) != length:
        raise StructureError(f"CT header announces {length} bases but the file holds {len(rows)}")
    return _table_to_pairs(rows, "CT")


def _partner_list(sequence: str, pairs: Iterable[Sequence[int]]) -> list[int]:
    """Return the 1-based partner of every base (0 = unpaired), validating ``pairs``."""
    partners = [0] * len(sequence)
    for i, j in validate_pairs(pairs, len(sequence), allow_multiplets=False):
        partners[i], partners[j] = j + 1, i + 1
    return partners


def write_bpseq(file: FileLike, sequence: str, pairs: Iterable[Sequence[int]]) -> None:
    """Write ``sequence`` and ``pairs`` as a BPSEQ file (``index base partner``, 1-based)."""
    partners = _partner_list(sequence, pairs)
    with _open_text(file, "w") as handle:
        for index, (base, partner) in enumerate(zip(sequence, partners), start=1):
            handle.write(f"{index} {base} {partner}\n")


def write_ct(file: FileLike, sequence: str, pairs: Iterable[Sequence[int]], title: str = "") -> None:
    """Write ``sequence`` and ``pairs`` as a single-structure, tab-separated CT file.

    The header is ``N<TAB>title``; rows are ``index base prev next partner index`` with ``next``
    0 on the last base.
    """
    if any(char in title for char in "\r\n"):
        raise StructureError("CT title must be a single line")
    partners = _partner_list(sequence, pairs)
    length = len(sequence)
    with _open_text(file, "w") as handle:
        handle.write(f"{length}\t{title}\n")
        for index, (base, partner) in enumerate(zip(sequence, partners), start=1):
            following = index + 1 if index < length else 0
            handle.write(f"{index}\t{base}\t{index - 1}\t{following}\t{partner}\t{index}\n")
