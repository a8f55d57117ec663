"""Secondary-structure benchmark datasets: one reader per source, one record type, parquet splits.

The raw benchmark files live, unchanged, in the shared data directory (``../shared/data``; its
``README.md`` documents each file). This module turns every source into :class:`SSRecord` lists,
one :class:`SplitBuild` per split, writes them as parquet and reads them back with
:func:`load_ss_split`. ``data_scripts/build_ss_datasets.py`` is the command-line front end.

Layout of a build directory (``OUT``)::

    OUT/manifest.json                   every split: path, role, counts, source file, skips
    OUT/counts.md                       records per split, ours vs the data README's figures
    OUT/data/<dataset>/<split>.parquet  one file per split
    OUT/data/<dataset>/<split>.<report> per-split reports of some sources (rfam_ss: families.tsv, excluded.tsv)
    OUT/leakage.json, OUT/leakage.md    train/test overlaps (unless --skip-leakage)
    OUT/fasta/<dataset>_<split>.fa      every test split as FASTA (with --write-fasta)

Split names are ``"<dataset>/<split>"``, e.g. ``"bprna/TS0"`` or ``"archiveii_famfold/5s_test"``.
Columns: ``id`` (str), ``sequence`` (str), ``pairs`` (list of ``[i, j]``, 0-based, ``i < j``,
sorted), ``family`` (str: RNA family, source database or RNA3DB component), ``length`` (int).

Labels are the source's truth: non-canonical pairs, pseudoknots and base multiplets (one base in
several pairs, as in the DSSR-derived SPOT-RNA PDB lists) are all kept.

Sequences are upper case over ``A C G U N``. The rule is the tokenizer's alphabet: ``T`` is read
as ``U`` (in these RNA sources it is ribothymidine, 5-methyl-U, and the tokenizer maps T and U to
one token anyway); every other letter, i.e. IUPAC ambiguity codes and modified-base letters such
as ``P`` (pseudouridine), ``I`` (inosine) or ``X``, becomes ``N``. The manifest counts the
``N`` positions per split. Any non-letter raises :class:`SSDataError`.

Per-source decisions (also recorded as ``notes`` in the manifest):

* bpRNA-1m(90): only the 10–100 nt subset has sequences here, so TR0/VL0/TS0 are the split IDs
  that occur in ``bpRNA-1m_90_short.dbn.gz``; ``family`` is the bpRNA source database (RFAM, CRW…).
* ArchiveII ``all``: the 3,975 CT files in file-name order, identical sequences de-duplicated by
  keeping the first file (its structure); the manifest counts dropped copies and how many dropped
  copies had a different structure. The family folds (``archiveii_famfold``) follow sinc-lab's
  ``split_famfold.csv`` as published (its train/valid/test membership, duplicates included),
  with structures read from the CT files of the same name.
* SPOT-RNA PDB: ``<S>_labels/`` lists the chains of each split (``VL1_sequences/`` holds
  leftovers); pair lists are 1-based and converted to 0-based.
* RNA3DB-2D: pairs from ``Structure_Corrected`` (the BPSEQ files drop pseudoknots). Its
  ``Sequence_Corrected`` has ``-`` where a residue has no coordinates; we store
  ``Sequence_Canonical`` instead (same length, identical at every other position), so the index
  space of the structure is kept and those residues are unpaired. Unbalanced structures are
  skipped and counted.
* SQUARNA: whitespace in the FASTA headers becomes ``_`` so the ids are unique single words.
* SPOT-RNA-2D is not built: its TS1/TS2 share sequences with SPOT-RNA TR1/VL1 (data README).
* ``rfam_ss`` (built only when named, since it runs MMseqs2 over ~90k sequences): Rfam 14.9 seed
  members with their family's consensus structure (``#=GC SS_cons``) projected onto them, canonical
  pairs only, minus every member ≥ 80 % identical to a sequence of any test split (the test splits
  are read in the same run); ``train`` and a family-disjoint ``valid``. Its rules are in
  :mod:`modeling_ssrlm.data.rfam`; ``family`` is the Rfam accession.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import re
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ..io.sequences import SequenceFormatError, read_dbn
from ..secondary_structure import StructureError, parse_dot_bracket, read_ct, validate_pairs
from ..tokenization_ssrlm import to_rna_letters

if TYPE_CHECKING:
    import datasets

    from .rfam import RfamOptions

__all__ = [
    "CountCheck",
    "EXPECTED_COUNTS",
    "LEAKAGE_PAIRS",
    "PARQUET_SCHEMA",
    "READERS",
    "RFAM_SOURCE",
    "SOURCE_FILES",
    "SSDataError",
    "SSRecord",
    "SplitBuild",
    "build_splits",
    "check_counts",
    "format_counts_table",
    "format_leakage_table",
    "leakage_pairs_for",
    "leakage_report",
    "load_ss_split",
    "read_archiveii",
    "read_bprna",
    "read_rfam_ss",
    "read_rna3db_2d",
    "read_spot_rna_pdb",
    "read_squarna",
    "reference_sequences",
    "to_rna_alphabet",
    "write_build",
    "write_fasta",
    "write_leakage",
]


class SSDataError(ValueError):
    """A source file is missing or does not have the layout the reader expects."""


@dataclass(frozen=True)
class SSRecord:
    """One RNA chain with its secondary structure (0-based pairs, ``i < j``)."""

    id: str
    sequence: str
    pairs: tuple[tuple[int, int], ...]
    family: str

    @property
    def length(self) -> int:
        return len(self.sequence)


@dataclass
class SplitBuild:
    """One built split plus the bookkeeping the manifest reports.

    ``source_count`` is the number of entries the source defines for this split (IDs in a split
    file, files, CSV rows) before any filtering; ``skipped`` maps a reason to the number of
    entries dropped for it, so ``source_count - sum(skipped.values()) == len(records)``.
    ``reports`` holds extra per-split tables (e.g. ``{"families.tsv": ...}``), written as
    ``data/<dataset>/<split>.<name>``.
    """

    dataset: str
    split: str
    role: str  # "train", "valid" or "test"
    source: str  # file(s) under the data directory
    records: list[SSRecord]
    source_count: int
    skipped: dict[str, int] = field(default_factory=dict)
    notes: str = ""
    reports: dict[str, str] = field(default_factory=dict)  # file suffix -> text, written beside the parquet

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.split}"

    @property
    def unknown_bases(self) -> int:
        """Positions stored as ``N`` (source ``N``, IUPAC codes and modified-base letters)."""
        return sum(record.sequence.count("N") for record in self.records)


# --------------------------------------------------------------------------- sequences and pairs



def to_rna_alphabet(sequence: str) -> str:
    """:func:`~modeling_ssrlm.tokenization_ssrlm.to_rna_letters` (upper case, ``T`` → ``U``, other letters → ``N``).

    Raises :class:`SSDataError` naming the first non-letter character, its 0-based position and the sequence.
    """
    try:
        return to_rna_letters(sequence)
    except ValueError as error:
        raise SSDataError(f"{error} of sequence {sequence[:30]!r}") from None


@contextlib.contextmanager
def _located(where: str) -> Iterator[None]:
    """Re-raise a :class:`StructureError` as :class:`SSDataError` prefixed with the file/record."""
    try:
        yield
    except StructureError as error:
        raise SSDataError(f"{where}: {error}") from error


def _record(record_id: str, sequence: str, pairs: Iterable[tuple[int, int]], family: str) -> SSRecord:
    """Normalise the sequence and check the pairs (multiplets allowed: they are the truth)."""
    sequence = to_rna_alphabet(sequence)
    with _located(record_id):
        checked = validate_pairs(pairs, len(sequence), allow_multiplets=True)
    return SSRecord(record_id, sequence, tuple(checked), family)


# --------------------------------------------------------------------------- file helpers

SOURCE_FILES = {
    "bprna_dbn": "bprna_spot/bpRNA-1m_90_short.dbn.gz",
    "bprna_splits": "bprna_spot/TR0-TS0_splits.csv.gz",
    "archiveii_ct": "archiveII/archiveII.tar.gz",
    "archiveii_splits": "archiveII/archiveII_sinc-lab_csv_splits.tar.gz",
    "spot_rna_pdb": "spot_rna_pdb/PDB_dataset.zip",
    "rna3db_2d": "rna3db_2d/rna3db_2d_train_valid.tar.gz",
    "squarna": "squarna/squarna_datasets.tar.gz",
    "rfam_seed": "rfam/rfam14.9_seed_sto.tar.gz",
}


def _source_path(data_dir: Path, key: str) -> Path:
    path = Path(data_dir) / SOURCE_FILES[key]
    if not path.is_file():
        raise SSDataError(f"missing source file {path} (is --data-dir the shared data directory?)")
    return path


def _tar_member_text(archive: Path, suffix: str) -> str:
    """Text of the single member of ``archive`` whose name ends with ``suffix``."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(suffix)]
        if len(members) != 1:
            raise SSDataError(f"{archive}: expected one member ending in {suffix!r}, found {len(members)}")
        return tar.extractfile(members[0]).read().decode()


def _read_dbn(source: Path | io.BytesIO, where: str) -> Iterator[tuple[str, str, str]]:
    """Yield ``(header, sequence, structure)`` of a FASTA-style dot-bracket file or stream.

    Parsing is :func:`modeling_ssrlm.io.sequences.read_dbn` (strict line triples, since ``>`` is also a
    pseudoknot bracket); its format errors are re-raised as :class:`SSDataError` naming ``where``.
    """
    try:
        for record in read_dbn(source):
            yield " ".join(filter(None, (record.id, record.description))), record.sequence, record.structure
    except SequenceFormatError as error:
        raise SSDataError(f"{where}: {error}") from None


# --------------------------------------------------------------------------- readers


def read_bprna(data_dir: Path) -> list[SplitBuild]:
    """bpRNA-1m(90) TR0/VL0/TS0 restricted to the IDs present in the 10–100 nt dbn subset."""
    dbn_path, splits_path = _source_path(data_dir, "bprna_dbn"), _source_path(data_dir, "bprna_splits")
    entries = {}
    for record_id, sequence, structure in _read_dbn(dbn_path, str(dbn_path)):
        family = record_id.split("_")[1] if record_id.startswith("bpRNA_") else "bpRNA"
        with _located(f"{dbn_path}:{record_id}"):
            pairs = parse_dot_bracket(structure)
        entries[record_id] = _record(record_id, sequence, pairs, family)
    with gzip.open(splits_path, "rt") as handle:
        split_rows = list(csv.DictReader(handle))
    builds = []
    for split, role in (("TR0", "train"), ("VL0", "valid"), ("TS0", "test")):
        ids = [row["id"] for row in split_rows if row["partition"] == split]
        records = [entries[i] for i in ids if i in entries]
        builds.append(
            SplitBuild(
                "bprna", split, role, f"{SOURCE_FILES['bprna_splits']} + {SOURCE_FILES['bprna_dbn']}", records,
                source_count=len(ids), skipped={"id_not_in_short_dbn": len(ids) - len(records)},
                notes="only the 10-100 nt subset of bpRNA-1m(90) has sequences in the data directory",
            )
        )
    return builds


_FAMFOLD_ROLES = ("train", "valid", "test")


def read_archiveii(data_dir: Path) -> list[SplitBuild]:
    """ArchiveII: ``archiveii/all`` (de-duplicated CT set) and the sinc-lab family folds."""
    ct_archive, splits_archive = _source_path(data_dir, "archiveii_ct"), _source_path(data_dir, "archiveii_splits")
    by_name: dict[str, SSRecord] = {}
    with tarfile.open(ct_archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".ct")), key=lambda m: m.name)
        for member in members:
            name = Path(member.name).stem
            with _located(f"{ct_archive}:{member.name}"):
                sequence, pairs = read_ct(tar.extractfile(member))
            by_name[name] = _record(name, sequence, pairs, family=name.split("_")[0])

    unique: dict[str, SSRecord] = {}
    conflicting = 0
    for record in by_name.values():
        kept = unique.setdefault(record.sequence, record)
        conflicting += kept is not record and kept.pairs != record.pairs
    builds = [
        SplitBuild(
            "archiveii", "all", "test", SOURCE_FILES["archiveii_ct"], list(unique.values()),
            source_count=len(by_name), skipped={"identical_sequence": len(by_name) - len(unique)},
            notes=f"identical sequences: first CT file (name order) kept; {conflicting} dropped copies "
            "had a structure different from the kept one",
        )
    ]

    rows = list(csv.DictReader(io.StringIO(_tar_member_text(splits_archive, "split_famfold.csv"))))
    fold_numbers = {row["fold_name"]: int(row["fold_number"]) for row in rows}
    for fold in sorted(fold_numbers, key=fold_numbers.get):
        for role in _FAMFOLD_ROLES:
            ids = [row["id"] for row in rows if row["fold_name"] == fold and row["partition"] == role]
            records = [by_name[i] for i in ids if i in by_name]
            builds.append(
                SplitBuild(
                    "archiveii_famfold", f"{fold}_{role}", role,
                    f"{SOURCE_FILES['archiveii_splits']}:split_famfold.csv + {SOURCE_FILES['archiveii_ct']}",
                    records, source_count=len(ids), skipped={"id_without_ct_file": len(ids) - len(records)},
                    notes=f"family '{fold}' held out; membership as published by sinc-lab (not de-duplicated)",
                )
            )
    return builds


def _parse_pair_list(text: str, where: str) -> list[tuple[int, int]]:
    """1-based ``i j`` lines of a SPOT-RNA label file as 0-based pairs (``#`` and ``i j`` header skipped)."""
    pairs = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or line.startswith("#") or fields == ["i", "j"]:
            continue
        if len(fields) != 2 or not all(f.isdigit() for f in fields):
            raise SSDataError(f"{where}: expected 'i j' (1-based integers), got {line!r}")
        pairs.append((int(fields[0]) - 1, int(fields[1]) - 1))
    return pairs


def read_spot_rna_pdb(data_dir: Path) -> list[SplitBuild]:
    """SPOT-RNA PDB TR1/VL1/TS1/TS2: per-chain FASTA plus 1-based DSSR pair lists (multiplets kept)."""
    archive = _source_path(data_dir, "spot_rna_pdb")
    builds = []
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        for split, role in (("TR1", "train"), ("VL1", "valid"), ("TS1", "test"), ("TS2", "test")):
            label_dir = f"PDB_dataset/{split}_labels/"
            chain_ids = sorted(n[len(label_dir) :] for n in names if n.startswith(label_dir) and n != label_dir)
            records = []
            for chain in chain_ids:
                sequence_file = f"PDB_dataset/{split}_sequences/{chain}"
                if sequence_file not in names:
                    raise SSDataError(f"{archive}: {label_dir}{chain} has no {sequence_file}")
                fasta = zf.read(sequence_file).decode().splitlines()
                sequence = "".join(line.strip() for line in fasta if not line.startswith(">"))
                pairs = _parse_pair_list(zf.read(label_dir + chain).decode(), f"{archive}:{label_dir}{chain}")
                records.append(_record(chain, sequence, pairs, family="PDB"))
            builds.append(
                SplitBuild(
                    "spot_rna_pdb", split, role, f"{SOURCE_FILES['spot_rna_pdb']}:{label_dir}", records,
                    source_count=len(chain_ids), notes="DSSR pair lists: non-canonical pairs and multiplets kept",
                )
            )
    return builds


_RNA3DB_CSV = "05_final_selected_dataset.csv"


def read_rna3db_2d(data_dir: Path) -> list[SplitBuild]:
    """RNA3DB-2D train/valid from the CSV; pairs from ``Structure_Corrected``, unbalanced ones skipped."""
    archive = _source_path(data_dir, "rna3db_2d")
    rows = list(csv.DictReader(io.StringIO(_tar_member_text(archive, _RNA3DB_CSV))))
    builds = []
    for split, role in (("train", "train"), ("valid", "valid")):
        split_rows = [row for row in rows if row["dataset"] == f"{split}_set"]
        records, unbalanced = [], 0
        for row in split_rows:
            sequence, structure = row["Sequence_Canonical"], row["Structure_Corrected"]
            if len(sequence) != len(structure) or any(
                c not in ("-", s) for c, s in zip(row["Sequence_Corrected"], sequence)
            ):
                raise SSDataError(f"{archive}: {row['full_id']}: Sequence_Canonical does not match Sequence_Corrected")
            try:
                pairs = parse_dot_bracket(structure)
            except StructureError:
                unbalanced += 1
                continue
            records.append(_record(row["full_id"], sequence, pairs, family=row["component_x"]))
        builds.append(
            SplitBuild(
                "rna3db_2d", split, role, f"{SOURCE_FILES['rna3db_2d']}:{_RNA3DB_CSV}", records,
                source_count=len(split_rows), skipped={"unbalanced_structure": unbalanced},
                notes="sequence = Sequence_Canonical; residues without coordinates ('-' in Sequence_Corrected) "
                "are kept and unpaired",
            )
        )
    return builds


def read_squarna(data_dir: Path) -> list[SplitBuild]:
    """SQUARNA SRtrain / SRtest / TS1reducedWC (FASTA + dot-bracket, canonical pairs)."""
    archive = _source_path(data_dir, "squarna")
    builds = []
    for split, role in (("SRtrain", "train"), ("SRtest", "test"), ("TS1reducedWC", "test")):
        where = f"{archive}:{split}.fas"
        records = []
        for header, sequence, structure in _read_dbn(io.BytesIO(_tar_member_text(archive, f"{split}.fas").encode()), where):
            with _located(f"{where}:{header}"):
                pairs = parse_dot_bracket(structure)
            records.append(_record("_".join(header.split()), sequence, pairs, family="PDB"))
        builds.append(SplitBuild("squarna", split, role, f"{SOURCE_FILES['squarna']}:{split}.fas", records,
                                 source_count=len(records)))
    return builds


READERS: dict[str, Callable[[Path], list[SplitBuild]]] = {
    "bprna": read_bprna,
    "archiveii": read_archiveii,
    "spot_rna_pdb": read_spot_rna_pdb,
    "rna3db_2d": read_rna3db_2d,
    "squarna": read_squarna,
}


#: The source built from Rfam seed alignments; not among :data:`READERS` because it also needs the
#: test splits and MMseqs2, and it is built only when asked for.
RFAM_SOURCE = "rfam_ss"


def reference_sequences(builds: Iterable[SplitBuild], role: str = "test") -> dict[str, str]:
    """``{"<dataset>/<split>:<id>": sequence}`` of every split with ``role``, each distinct sequence once."""
    references: dict[str, str] = {}
    seen: set[str] = set()
    for build in builds:
        if build.role != role:
            continue
        for record in build.records:
            if record.sequence not in seen:
                seen.add(record.sequence)
                references[f"{build.name}:{record.id}"] = record.sequence
    return references


def read_rfam_ss(
    data_dir: Path, test_builds: Sequence[SplitBuild], options: RfamOptions | None = None
) -> list[SplitBuild]:
    """``rfam_ss/train`` and ``rfam_ss/valid``: projected Rfam seed structures minus members similar to a test split.

    ``test_builds`` are the splits whose ``test`` sequences are excluded (see :func:`build_splits`).
    """
    from .rfam import RfamOptions, build_rfam_splits  # deferred: rfam.py builds on this module's types

    path = _source_path(data_dir, "rfam_seed")
    references = reference_sequences(test_builds)
    return build_rfam_splits(path, references, options or RfamOptions(), source=SOURCE_FILES["rfam_seed"])


def build_splits(
    data_dir: str | Path, sources: Sequence[str] | None = None, rfam_options: RfamOptions | None = None
) -> list[SplitBuild]:
    """Read ``sources`` and check split ids are unique.

    ``sources`` are keys of :data:`READERS` and :data:`RFAM_SOURCE`; the default is every key of
    :data:`READERS` (``rfam_ss`` is built only when named). For ``rfam_ss`` the test splits of every
    reader are needed: those not among ``sources`` are read too (a few seconds) but not returned.
    """
    unknown = sorted(set(sources or ()) - {*READERS, RFAM_SOURCE})
    if unknown:
        raise SSDataError(f"unknown source(s) {unknown}; choose from {sorted({*READERS, RFAM_SOURCE})}")
    keys = list(sources or READERS)
    builds = [build for key in keys if key in READERS for build in READERS[key](Path(data_dir))]
    if RFAM_SOURCE in keys:
        others = [build for key in READERS if key not in keys for build in READERS[key](Path(data_dir))]
        builds += read_rfam_ss(Path(data_dir), builds + others, rfam_options)
    for build in builds:
        duplicated = [i for i, n in Counter(r.id for r in build.records).items() if n > 1]
        if duplicated:
            raise SSDataError(f"{build.name}: duplicated ids {duplicated[:5]}")
    return builds


# --------------------------------------------------------------------------- expected counts

_FAMFOLD_SIZES = {  # rows of split_famfold.csv per held-out family: (train, valid, test)
    "grp1": (3411, 379, 74), "tmRNA": (3062, 340, 462), "tRNA": (2977, 330, 557),
    "5s": (2323, 258, 1283), "srp": (2653, 293, 918), "telomerase": (3446, 383, 35),
    "RNaseP": (3069, 341, 454), "16s": (3419, 379, 66), "23s": (3464, 385, 15),
}

EXPECTED_COUNTS: dict[str, tuple[int | None, int | None]] = {
    # name: (entries in the source, records written), from the data README; None = no figure given.
    "bprna/TR0": (10814, 4082),
    "bprna/VL0": (1300, 485),
    "bprna/TS0": (1305, 473),
    "archiveii/all": (3975, 3460),
    **{
        f"archiveii_famfold/{fold}_{role}": (size, size)
        for fold, sizes in _FAMFOLD_SIZES.items()
        for role, size in zip(_FAMFOLD_ROLES, sizes)
    },
    "spot_rna_pdb/TR1": (120, 120),
    "spot_rna_pdb/VL1": (30, 30),
    "spot_rna_pdb/TS1": (67, 67),
    "spot_rna_pdb/TS2": (39, 39),
    "rna3db_2d/train": (469, None),  # README: 28 of all 759 chains (test included) are unbalanced
    "rna3db_2d/valid": (128, None),
    "squarna/SRtrain": (274, 274),
    "squarna/SRtest": (247, 247),
    "squarna/TS1reducedWC": (62, 62),
}


@dataclass(frozen=True)
class CountCheck:
    """Ours vs expected for one split; ``ok`` is False when a stated figure differs."""

    name: str
    source_count: int
    written: int
    expected_source: int | None
    expected_written: int | None

    @property
    def ok(self) -> bool:
        return self.expected_source in (None, self.source_count) and self.expected_written in (None, self.written)


def check_counts(
    builds: Sequence[SplitBuild], expected: dict[str, tuple[int | None, int | None]] = EXPECTED_COUNTS
) -> list[CountCheck]:
    """Compare each split's source and written counts with ``expected`` (missing name = no figure)."""
    return [CountCheck(b.name, b.source_count, len(b.records), *expected.get(b.name, (None, None))) for b in builds]


def format_counts_table(checks: Sequence[CountCheck]) -> str:
    """Markdown table of :func:`check_counts` rows; mismatches are flagged ``MISMATCH``."""
    def show(value: int | None) -> str:
        return "—" if value is None else f"{value:,}"

    lines = ["| split | source entries (ours / expected) | written (ours / expected) | check |", "|---|---|---|---|"]
    for c in checks:
        lines.append(
            f"| {c.name} | {c.source_count:,} / {show(c.expected_source)} | {c.written:,} / {show(c.expected_written)} "
            f"| {'ok' if c.ok else 'MISMATCH'} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- writing and loading

PARQUET_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("sequence", pa.string()),
        ("pairs", pa.list_(pa.list_(pa.int32()))),
        ("family", pa.string()),
        ("length", pa.int32()),
    ]
)


def _split_path(build: SplitBuild) -> str:
    return f"data/{build.dataset}/{build.split}.parquet"


def write_build(
    builds: Sequence[SplitBuild], out_dir: str | Path, data_dir: str | Path, checks: Sequence[CountCheck]
) -> Path:
    """Write one parquet file per split plus ``manifest.json`` and ``counts.md``; return the manifest path."""
    out_dir = Path(out_dir)
    checks_by_name = {c.name: c for c in checks}
    splits = {}
    for build in builds:
        path = out_dir / _split_path(build)
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = {
            "id": [r.id for r in build.records],
            "sequence": [r.sequence for r in build.records],
            "pairs": [[list(p) for p in r.pairs] for r in build.records],
            "family": [r.family for r in build.records],
            "length": [r.length for r in build.records],
        }
        pq.write_table(pa.table(columns, schema=PARQUET_SCHEMA), path)
        reports = {}
        for suffix, text in build.reports.items():
            reports[suffix] = f"data/{build.dataset}/{build.split}.{suffix}"
            (out_dir / reports[suffix]).write_text(text)
        check = checks_by_name[build.name]
        splits[build.name] = {
            "dataset": build.dataset,
            "split": build.split,
            "role": build.role,
            "path": _split_path(build),
            "count": len(build.records),
            "source_count": build.source_count,
            "skipped": build.skipped,
            "expected": {"source_count": check.expected_source, "count": check.expected_written},
            "count_ok": check.ok,
            "unknown_bases_N": build.unknown_bases,
            "pairs": sum(len(r.pairs) for r in build.records),
            "source": build.source,
            "notes": build.notes,
            "reports": reports,
        }
    manifest = {
        "format": "ssrlm secondary-structure splits v1",
        "data_dir": str(data_dir),
        "columns": {
            "id": "string", "sequence": "string, A C G U N (T read as U, other letters -> N)",
            "pairs": "list of [i, j], 0-based, i < j, sorted; non-canonical pairs and multiplets kept",
            "family": "string: RNA family, source database or RNA3DB component", "length": "int32",
        },
        "counts_ok": all(c.ok for c in checks),
        "splits": splits,
    }
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / "counts.md").write_text(format_counts_table(checks) + "\n")
    return manifest_path


def write_fasta(builds: Sequence[SplitBuild], out_dir: str | Path, role: str = "test") -> list[Path]:
    """Write every split with ``role`` as ``<out_dir>/fasta/<dataset>_<split>.fa``; return the paths."""
    paths = []
    for build in (b for b in builds if b.role == role):
        path = Path(out_dir) / "fasta" / f"{build.dataset}_{build.split}.fa"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in build.records))
        paths.append(path)
    return paths


def load_ss_split(root: str | Path, name: str) -> datasets.Dataset:
    """Load split ``name`` (``"<dataset>/<split>"``) of a build directory as an in-memory Dataset.

    The parquet files are equally readable with
    ``datasets.load_dataset("parquet", data_files=path, split="train")`` (non-empty splits only:
    that builder rejects a file without rows, which a fold's empty partition would give).
    """
    import datasets  # deferred: building the splits does not need it

    manifest_path = Path(root) / "manifest.json"
    if not manifest_path.is_file():
        raise SSDataError(f"{manifest_path} not found; build it with data_scripts/build_ss_datasets.py")
    splits = json.loads(manifest_path.read_text())["splits"]
    if name not in splits:
        raise SSDataError(f"unknown split {name!r}; available: {', '.join(splits)}")
    return datasets.Dataset(pq.read_table(Path(root) / splits[name]["path"], schema=PARQUET_SCHEMA), split=name)


# --------------------------------------------------------------------------- leakage

LEAKAGE_PAIRS: tuple[tuple[str, str], ...] = (
    ("bprna/TR0", "bprna/TS0"),
    ("bprna/VL0", "bprna/TS0"),
    *(
        (train, test)
        for train in ("spot_rna_pdb/TR1", "spot_rna_pdb/VL1")
        for test in ("spot_rna_pdb/TS1", "spot_rna_pdb/TS2")
    ),
    *(
        (train, test)
        for train in ("rna3db_2d/train", "rna3db_2d/valid")
        for test in ("spot_rna_pdb/TS1", "spot_rna_pdb/TS2", "squarna/TS1reducedWC")
    ),
    ("bprna/TR0", "spot_rna_pdb/TS1"),
    ("bprna/TR0", "spot_rna_pdb/TS2"),
    ("squarna/SRtrain", "squarna/SRtest"),
    ("squarna/SRtrain", "squarna/TS1reducedWC"),
)


def leakage_pairs_for(builds: Sequence[SplitBuild]) -> list[tuple[str, str]]:
    """:data:`LEAKAGE_PAIRS` among the built splits, plus train/valid vs test of every ArchiveII fold."""
    names = {b.name for b in builds}
    pairs = [pair for pair in LEAKAGE_PAIRS if set(pair) <= names]
    for build in builds:
        if build.dataset == "archiveii_famfold" and build.role == "test":
            fold = build.split.removesuffix("_test")
            pairs += [(f"archiveii_famfold/{fold}_{r}", build.name) for r in ("train", "valid")
                      if f"archiveii_famfold/{fold}_{r}" in names]
    return pairs


SimilarFn = Callable[..., dict[str, tuple[str, float]]]


def leakage_report(
    builds: Sequence[SplitBuild],
    pairs: Sequence[tuple[str, str]],
    similar: SimilarFn | None = None,
    min_seq_id: float = 0.8,
    threads: int = 1,
) -> list[dict]:
    """For each ``(train, test)`` pair: test records whose sequence is in train, or ≥ ``min_seq_id`` similar.

    ``similar`` defaults to :func:`modeling_ssrlm.io.mmseqs.similar_to` (MMseqs2, coverage 0.8 of both
    sequences, forward strand), which reports exact copies too, so ``similar`` ⊇ ``exact``.
    """
    if similar is None:
        from modeling_ssrlm.io.mmseqs import similar_to as similar
    by_name = {b.name: b for b in builds}
    rows = []
    for train_name, test_name in pairs:
        train, test = by_name[train_name].records, by_name[test_name].records
        train_sequences = {r.sequence for r in train}
        hits = similar({r.id: r.sequence for r in test}, {r.id: r.sequence for r in train},
                       min_seq_id=min_seq_id, threads=threads)
        rows.append(
            {
                "train": train_name, "test": test_name, "n_train": len(train), "n_test": len(test),
                "min_seq_id": min_seq_id,
                "exact": sum(r.sequence in train_sequences for r in test),
                "similar": len(hits),
                "exact_ids": [r.id for r in test if r.sequence in train_sequences],
                "similar_hits": {query: {"train_id": t, "identity": identity} for query, (t, identity) in hits.items()},
            }
        )
    return rows


def format_leakage_table(rows: Sequence[dict]) -> str:
    """Markdown table of :func:`leakage_report` rows (counts of test sequences, percent of the test split)."""
    def cell(count: int, total: int) -> str:
        return f"{count} ({100 * count / total:.1f} %)" if total else "0"

    identity = f"≥ {100 * rows[0]['min_seq_id']:.0f} % id" if rows else "similar"
    lines = [
        f"| train | test | n train | n test | exact copies | {identity} (MMseqs2, incl. exact) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['train']} | {r['test']} | {r['n_train']:,} | {r['n_test']:,} | {cell(r['exact'], r['n_test'])} "
            f"| {cell(r['similar'], r['n_test'])} |"
        )
    return "\n".join(lines)


def write_leakage(rows: Sequence[dict], out_dir: str | Path) -> None:
    """Write :func:`leakage_report` rows as ``leakage.json`` and ``leakage.md`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "leakage.json").write_text(json.dumps(list(rows), indent=2) + "\n")
    (out_dir / "leakage.md").write_text(format_leakage_table(rows) + "\n")
