"""Rfam seed alignments as secondary-structure training data (the ``rfam_ss`` source).

Every Rfam family has a curated consensus structure, ``#=GC SS_cons`` of its seed alignment, written
in WUSS notation: ``<>``, ``()``, ``[]``, ``{}`` pair, upper/lower-case letter pairs ``Aa``, ``Bb``, ...
are pseudoknot pairs, and ``. , _ - : ~`` are unpaired. It is a structure over alignment
*columns*; this module projects it onto each member (seed sequence):

* the member's row is ungapped (gap characters ``- . _ ~``, as in
  :data:`modeling_ssrlm.io.sequences.GAP_CHARACTERS`) and normalised with the benchmark splits'
  alphabet rule (:func:`~modeling_ssrlm.data.ss_datasets.to_rna_alphabet`: upper case, ``T`` → ``U``,
  other letters → ``N``);
* a consensus column pair becomes a pair of the member only when both columns hold a residue of
  that member (else it is *dropped for a gap*) and the two residues form a canonical pair, AU, GC or
  GU (else it is *dropped as non-canonical*: a consensus pair is a covariation claim, and a member
  that breaks it, or has ``N`` there, is not evidence of that pair).

:class:`FamilyCounts` records, per family, its members, consensus pairs, projected pairs and both
kinds of drop. :func:`build_rfam_splits` then turns the members into the ``rfam_ss/train`` and
``rfam_ss/valid`` splits of :mod:`~modeling_ssrlm.data.ss_datasets`, filtering in this order:

1. members of families whose ``SS_cons`` has no pair are dropped (348 Rfam 14.9 families, many of
   them C/D-box snoRNAs: no structure annotated is not evidence of no structure, so an all-unpaired label
   would be wrong), as are empty members (rows that are all gaps) and members longer than
   ``max_length`` nt (training cost grows with L², the pair map being L × L);
2. identical sequences are collapsed, keeping the first in file order (families in accession
   order), so no sequence is in both splits;
3. every member at least ``min_seq_id`` identical (MMseqs2, coverage 0.8 of both sequences,
   :func:`modeling_ssrlm.io.mmseqs.similar_to`) to any sequence of any test split is removed.

``valid`` is a deterministic ~``valid_fraction`` of families held out whole: the family's hold-out
unit is its Rfam clan (``#=GF CL``) when it has one, else the family itself, and a unit goes to
``valid`` when the SHA-256 of its name falls below that fraction. Families of one clan are
homologous, so holding clans out whole keeps validation family-disjoint in the evolutionary sense,
and the assignment of a family never depends on which other families are read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..io.mmseqs import similar_to
from ..io.sequences import GAP_CHARACTERS, StockholmAlignment, read_stockholm_alignments
from ..secondary_structure import WATSON_CRICK_PAIRS, WOBBLE_PAIRS, Pair, StructureError, parse_dot_bracket
from .ss_datasets import RFAM_SOURCE, SplitBuild, SSDataError, SSRecord, to_rna_alphabet

__all__ = [
    "CANONICAL_PAIRS",
    "FamilyCounts",
    "RfamOptions",
    "build_rfam_splits",
    "consensus_column_pairs",
    "holdout_unit",
    "is_valid_unit",
    "project_alignment",
    "project_member",
    "read_rfam_seed",
]

#: Base pairs kept when projecting the consensus structure (either orientation).
CANONICAL_PAIRS = WATSON_CRICK_PAIRS | WOBBLE_PAIRS

SimilarFn = Callable[..., dict[str, tuple[str, float]]]


@dataclass
class FamilyCounts:
    """Projection bookkeeping of one Rfam family (all members, before any filtering)."""

    accession: str
    name: str  # #=GF ID
    clan: str  # #=GF CL, "" when the family belongs to no clan
    members: int = 0
    consensus_pairs: int = 0
    pairs_projected: int = 0
    dropped_gap: int = 0
    dropped_noncanonical: int = 0


@dataclass(frozen=True)
class RfamOptions:
    """Options of the ``rfam_ss`` build (see the module docstring for what each one does)."""

    max_length: int = 600
    valid_fraction: float = 0.03
    min_seq_id: float = 0.8
    threads: int = 1


# --------------------------------------------------------------------------- projection


def consensus_column_pairs(ss_cons: str, where: str = "SS_cons") -> list[Pair]:
    """0-based column pairs of a WUSS consensus structure (pseudoknot letters included)."""
    try:
        return parse_dot_bracket(ss_cons)
    except StructureError as error:
        raise SSDataError(f"{where}: {error}") from error


def project_member(
    record_id: str, row: str, column_pairs: Sequence[Pair], family: str
) -> tuple[SSRecord, int, int]:
    """Project column pairs onto one aligned row.

    Returns the member as an :class:`SSRecord` (ungapped, normalised sequence; 0-based pairs in
    its own positions) and the numbers of column pairs dropped because a column is a gap in this row
    and because the two residues are not AU, GC or GU.
    """
    position_of_column = []
    letters = []
    for char in row:
        if char in GAP_CHARACTERS:
            position_of_column.append(-1)
        else:
            position_of_column.append(len(letters))
            letters.append(char)
    try:
        sequence = to_rna_alphabet("".join(letters))
    except SSDataError as error:
        raise SSDataError(f"{record_id}: {error}") from None
    pairs, dropped_gap, dropped_noncanonical = [], 0, 0
    for left, right in column_pairs:
        i, j = position_of_column[left], position_of_column[right]
        if i < 0 or j < 0:
            dropped_gap += 1
        elif sequence[i] + sequence[j] not in CANONICAL_PAIRS:
            dropped_noncanonical += 1
        else:
            pairs.append((i, j))
    return SSRecord(record_id, sequence, tuple(pairs), family), dropped_gap, dropped_noncanonical


def project_alignment(alignment: StockholmAlignment, where: str = "") -> tuple[list[SSRecord], FamilyCounts]:
    """Project an alignment's ``SS_cons`` onto every member; ids are ``<accession>/<sequence name>``."""
    family = alignment.family
    where = f"{where}:{family}" if where else family
    ss_cons = alignment.column_annotations.get("SS_cons")
    if ss_cons is None:
        raise SSDataError(f"{where}: the alignment has no '#=GC SS_cons' line")
    column_pairs = consensus_column_pairs(ss_cons, f"{where}: SS_cons")
    counts = FamilyCounts(
        family, alignment.file_annotations.get("ID", ""), alignment.file_annotations.get("CL", ""),
        members=len(alignment.rows), consensus_pairs=len(column_pairs),
    )
    records = []
    for name, row in alignment.rows.items():
        if len(row) != len(ss_cons):
            raise SSDataError(f"{where}: row {name!r} has {len(row)} columns but SS_cons has {len(ss_cons)}")
        record, dropped_gap, dropped_noncanonical = project_member(f"{family}/{name}", row, column_pairs, family)
        records.append(record)
        counts.pairs_projected += len(record.pairs)
        counts.dropped_gap += dropped_gap
        counts.dropped_noncanonical += dropped_noncanonical
    return records, counts


def read_rfam_seed(path: str | Path) -> Iterator[tuple[list[SSRecord], FamilyCounts]]:
    """Projected members and counts of every family in a Stockholm file or tar archive of them."""
    for alignment in read_stockholm_alignments(path):
        yield project_alignment(alignment, str(path))


# --------------------------------------------------------------------------- hold-out split


def holdout_unit(counts: FamilyCounts) -> str:
    """What is held out whole: the family's clan, or the family itself when it has no clan."""
    return counts.clan or counts.accession


def is_valid_unit(unit: str, fraction: float) -> bool:
    """Whether ``unit`` goes to ``valid``: its SHA-256, read as a number in [0, 1), is below ``fraction``."""
    digest = hashlib.sha256(unit.encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


# --------------------------------------------------------------------------- filtering and splits


def _drop_reason(record: SSRecord, family: FamilyCounts, seen: set[str], max_length: int) -> str | None:
    """Steps 1–2 of the module docstring for one member: the reason it is dropped, or None."""
    if family.consensus_pairs == 0:
        return "no_consensus_pairs"
    if not record.sequence:
        return "empty"
    if record.length > max_length:
        return "too_long"
    if record.sequence in seen:
        return "identical_sequence"
    seen.add(record.sequence)
    return None


def _families_table(families: Sequence[FamilyCounts], kept: Mapping[str, int]) -> str:
    """Per-family projection counts as TSV (``kept`` = members written to the split)."""
    header = "accession\tname\tclan\tmembers\tkept\tconsensus_pairs\tpairs_projected\tdropped_gap\tdropped_noncanonical"
    lines = [header] + [
        f"{f.accession}\t{f.name}\t{f.clan}\t{f.members}\t{kept.get(f.accession, 0)}\t{f.consensus_pairs}"
        f"\t{f.pairs_projected}\t{f.dropped_gap}\t{f.dropped_noncanonical}"
        for f in families
    ]
    return "\n".join(lines) + "\n"


def _excluded_table(hits: Mapping[str, tuple[str, float]]) -> str:
    """Members removed for similarity to a test sequence, with the test sequence and identity, as TSV."""
    lines = ["id\ttest_sequence\tidentity"] + [f"{i}\t{ref}\t{identity:.3f}" for i, (ref, identity) in hits.items()]
    return "\n".join(lines) + "\n"


def _split_build(
    split: str, families: Sequence[FamilyCounts], members: Sequence[SSRecord], dropped: Mapping[str, str],
    hits: Mapping[str, tuple[str, float]], options: RfamOptions, source: str,
) -> SplitBuild:
    """One ``rfam_ss`` split from its families' members, the drop reason of each dropped one and the hits."""
    records = [r for r in members if r.id not in dropped and r.id not in hits]
    skipped = dict.fromkeys(("no_consensus_pairs", "empty", "too_long", "identical_sequence"), 0)
    skipped["similar_to_test"] = sum(r.id in hits for r in members)
    for record in members:
        if record.id in dropped:
            skipped[dropped[record.id]] += 1
    kept_per_family: dict[str, int] = {}
    for record in records:
        kept_per_family[record.family] = kept_per_family.get(record.family, 0) + 1
    units = {holdout_unit(f) for f in families}
    notes = (
        f"{len(families)} families ({len(units)} hold-out units: clan, else family; valid = units whose "
        f"SHA-256 < {options.valid_fraction}); SS_cons projected onto every member: "
        f"{sum(f.pairs_projected for f in families):,} pairs projected, {sum(f.dropped_gap for f in families):,} "
        f"dropped for a gap, {sum(f.dropped_noncanonical for f in families):,} dropped as non-canonical "
        f"(kept: AU, GC, GU); members read {len(members):,}, in a family without consensus pairs "
        f"{skipped['no_consensus_pairs']:,}, empty {skipped['empty']:,}, longer than {options.max_length} nt "
        f"{skipped['too_long']:,}, identical to an earlier member {skipped['identical_sequence']:,}, "
        f">= {100 * options.min_seq_id:.0f} % identical to a test sequence (MMseqs2) "
        f"{skipped['similar_to_test']:,}, kept {len(records):,}"
    )
    return SplitBuild(
        RFAM_SOURCE, split, role=split, source=source, records=records, source_count=len(members), skipped=skipped,
        notes=notes,
        reports={"families.tsv": _families_table(families, kept_per_family),
                 "excluded.tsv": _excluded_table({r.id: hits[r.id] for r in members if r.id in hits})},
    )


def build_rfam_splits(
    seed_path: str | Path,
    references: Mapping[str, str],
    options: RfamOptions = RfamOptions(),
    similar: SimilarFn | None = None,
    source: str | None = None,
) -> list[SplitBuild]:
    """Build ``rfam_ss/train`` and ``rfam_ss/valid`` from the seed alignments at ``seed_path``.

    ``references`` maps a label to each test sequence that members must not resemble (``{}`` skips
    the similarity step). ``similar`` defaults to :func:`modeling_ssrlm.io.mmseqs.similar_to`;
    ``source`` is the path recorded in the manifest (default ``seed_path``).
    """
    similar = similar or similar_to
    members: dict[str, list[SSRecord]] = {"train": [], "valid": []}
    families: dict[str, list[FamilyCounts]] = {"train": [], "valid": []}
    dropped: dict[str, str] = {}
    seen: set[str] = set()
    for records, counts in read_rfam_seed(seed_path):
        split = "valid" if is_valid_unit(holdout_unit(counts), options.valid_fraction) else "train"
        families[split].append(counts)
        members[split] += records
        for record in records:
            reason = _drop_reason(record, counts, seen, options.max_length)
            if reason is not None:
                dropped[record.id] = reason
    candidates = {r.id: r.sequence for split in members.values() for r in split if r.id not in dropped}
    hits = similar(candidates, references, min_seq_id=options.min_seq_id, threads=options.threads) if references else {}
    return [
        _split_build(split, families[split], members[split], dropped, hits, options, source or str(seed_path))
        for split in ("train", "valid")
    ]
