#!/usr/bin/env python
"""Build the SSR-LM pre-training corpus as resumable, folded parquet shards.

Example (the shared data, a quick run of 3,000 + 3,000 sampled records)::

    python data_scripts/prepare_pretraining.py \\
        --ncrna ../shared/data/rfam/rfam14.9_seed_ungapped.fa.gz \\
        --other ../shared/data/non_ncrna/non_ncrna_cds_transcripts.fa.gz \\
        --exclude bprna_ts0.fa --limit 3000 --workers 2 --out runs/corpus_small

Inputs are FASTA, Stockholm or FASTA-style dot-bracket files, plain or gzip, or tar archives of them
(the format is detected from the content). ``--ncrna`` inputs are folded, ``--other`` inputs
(mRNA, CDS, ...) are not. ``--ncrna-consensus`` inputs are Stockholm alignments with a consensus
structure, e.g. the Rfam seed tarball ``rfam14.9_seed_sto.tar.gz``: each member gets its family's
``#=GC SS_cons`` projected onto it (canonical pairs whose columns both hold a residue; the rules of
:mod:`modeling_ssrlm.data.rfam`) instead of a prediction, and only members of a family whose
``SS_cons`` has no pair are folded. Steps, each counted per input file in ``summary.json``:

1. read (``--ncrna-consensus`` inputs first, then ``--ncrna``, then ``--other``); with ``--limit N``
   keep a seeded random sample of at most N records per input file;
2. normalise with :func:`modeling_ssrlm.tokenization_ssrlm.normalize_sequence` (upper case, U→T,
   IUPAC codes → N); records with other characters or an empty sequence are rejected;
3. keep lengths in [``--min-length``, ``--max-length``] (the default maximum, 4,096 nt, keeps all but
   79 of the long non-ncRNA CDS and bounds the cubic folding time, about 20 s for the longest);
4. drop exact duplicates (first occurrence kept, in reading order: a sequence given both with a
   consensus structure and without keeps the consensus structure, one given as ncRNA and other stays
   ncRNA);
5. ``--exclude``: drop every record at least ``--exclude-min-seq-id`` identical (MMseqs2, coverage
   ``--coverage`` of both sequences) to any sequence of the given files, e.g. test sets; every
   dropped record is listed in ``OUT/excluded.tsv`` with the reference it matched;
6. cluster with MMseqs2 at ``--min-seq-id`` / ``--coverage`` and keep the cluster representatives;
   ncRNA and other records are clustered separately so that no ncRNA loses its label;
7. shuffle with ``--seed`` and cut into shards of ``--shard-size`` records; this plan is saved to
   ``OUT/plan.parquet`` (atomically) before any folding;
8. fold every ncRNA without a consensus structure with ``--folding`` in a pool of ``--workers``
   processes and write each shard ``OUT/train/shard-NNNNN.parquet`` atomically (hidden temporary
   file, then ``os.replace``).

Shard columns: ``id`` (first word of the header; ``<family>/<name>`` for ``--ncrna-consensus``),
``sequence`` (normalised), ``structure`` (dot-bracket, pseudoknot brackets possible for consensus
structures; empty for non-ncRNA), ``is_ncrna`` (bool), ``source`` (input file name),
``structure_source`` (``rfam_ss_cons`` for a projected consensus structure, ``viennarna`` for a
ViennaRNA prediction, another backend's name for its predictions, empty for non-ncRNA; counted per
input as ``structure_sources`` in ``summary.json``). The shards
load with ``datasets.load_dataset("parquet", data_dir=OUT)`` (the ``train/`` folder names the
split, so ``summary.json`` and ``plan.parquet`` beside it are not read as data).

Resuming: re-running the same command skips steps 1–7 by loading the plan, skips every complete
shard and writes the rest, so an interrupted run ends with exactly the records of an uninterrupted
one. The plan records the inputs (path, size, modification time) and every option that shapes the
shards; a re-run with different ones stops with an error instead of mixing two corpora.
``--workers`` may change between runs. ``summary.json`` is written once every shard exists.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from modeling_ssrlm.data.labelling import FoldingBackend, available_folding_backends, fold_many, get_folding_backend
from modeling_ssrlm.data.rfam import read_rfam_seed
from modeling_ssrlm.io.mmseqs import MMseqsError, cluster, similar_to
from modeling_ssrlm.io.sequences import read_sequence_file
from modeling_ssrlm.secondary_structure import to_dot_bracket
from modeling_ssrlm.tokenization_ssrlm import IUPAC_AMBIGUITY_CODES, NUCLEOTIDES, normalize_sequence

SHARD_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("sequence", pa.string()),
        ("structure", pa.string()),
        ("is_ncrna", pa.bool_()),
        ("source", pa.string()),
        ("structure_source", pa.string()),
    ]
)
#: ``structure_source`` of a consensus structure projected from ``#=GC SS_cons``.
CONSENSUS_SOURCE = "rfam_ss_cons"
#: ``structure_source`` of each folding backend's predictions (see :func:`folded_structure_source`).
FOLDED_SOURCES = {"vienna": "viennarna"}
PLAN_FILE = "plan.parquet"
PLAN_METADATA_KEY = b"ssrlm_plan"
SHARD_DIR = "train"
#: Options that change the shards' content; a resumed run must use the same values.
PLAN_OPTIONS = (
    "min_length", "max_length", "limit", "seed", "min_seq_id", "coverage",
    "exclude_min_seq_id", "shard_size", "folding", "temperature",
)  # fmt: skip
COUNT_KEYS = ("read", "sampled_out", "too_short", "too_long", "duplicates", "excluded", "clustered_away", "planned")
MAX_REJECTED_EXAMPLES = 5
T = TypeVar("T")
# Exclusion references are read leniently: any character outside the model alphabet becomes N, so a
# test sequence with a modified base still takes part in the similarity search.
_NON_NUCLEOTIDE = re.compile(f"[^{NUCLEOTIDES}U{IUPAC_AMBIGUITY_CODES}]", re.IGNORECASE)


@dataclass
class CorpusRecord:
    """A record that has passed the filters so far; ``structure`` is set when it is known (not folded)."""

    id: str
    sequence: str
    is_ncrna: bool
    source: str
    structure: str = ""
    structure_source: str = ""


def folded_structure_source(backend_name: str) -> str:
    """``structure_source`` of a backend's predictions: its entry in :data:`FOLDED_SOURCES`, else its name."""
    return FOLDED_SOURCES.get(backend_name, backend_name)


def new_source_counts(is_ncrna: bool) -> dict:
    """Per-input counters, filled step by step."""
    return {"is_ncrna": is_ncrna, **dict.fromkeys(COUNT_KEYS, 0), "rejected": {}, "rejected_examples": []}


def sample(records: Iterable[T], limit: int | None, rng: random.Random) -> tuple[list[T], int]:
    """Return a uniform random sample of at most ``limit`` records, in file order, and the number read."""
    reservoir: list[tuple[int, T]] = []
    total = 0
    for index, record in enumerate(records):
        total = index + 1
        if limit is None or index < limit:
            reservoir.append((index, record))
        else:
            slot = rng.randrange(index + 1)
            if slot < limit:
                reservoir[slot] = (index, record)
    reservoir.sort(key=lambda item: item[0])
    return [record for _, record in reservoir], total


def input_entries(path: str, consensus: bool) -> Iterator[tuple[str, str, str]]:
    """``(id, sequence, structure)`` of every record of an input (sequences not yet normalised).

    The structure is the projected ``SS_cons`` for a ``--ncrna-consensus`` input, or empty where the
    family's ``SS_cons`` has no pair (no structure annotated: folded instead); empty for other inputs.
    """
    if not consensus:
        for record in read_sequence_file(path):
            yield record.id, record.sequence, ""
        return
    for members, family in read_rfam_seed(path):
        for member in members:
            structure = to_dot_bracket(member.pairs, member.length) if family.consensus_pairs else ""
            yield member.id, member.sequence, structure


def read_input(
    path: str, is_ncrna: bool, args: argparse.Namespace, counts: dict, consensus: bool = False
) -> list[CorpusRecord]:
    """Steps 1–3 for one input file: read (and sample), normalise, filter by length."""
    source = Path(path).name
    stats = counts[source] = new_source_counts(is_ncrna)
    entries = input_entries(path, consensus)
    records, stats["read"] = sample(entries, args.limit, random.Random(f"{args.seed}:{source}"))
    stats["sampled_out"] = stats["read"] - len(records)
    rejected: Counter = Counter()

    def reject(reason: str, example: str) -> None:
        rejected[reason] += 1
        if len(stats["rejected_examples"]) < MAX_REJECTED_EXAMPLES:
            stats["rejected_examples"].append(example)

    kept = []
    for record_id, raw_sequence, structure in records:
        try:
            sequence = normalize_sequence(raw_sequence)
        except ValueError as error:
            reject("invalid_character", f"{record_id}: {error}")
            continue
        if not sequence:
            reject("empty", f"{record_id}: empty sequence")
        elif len(sequence) < args.min_length:
            stats["too_short"] += 1
        elif len(sequence) > args.max_length:
            stats["too_long"] += 1
        else:
            kept.append(CorpusRecord(record_id, sequence, is_ncrna, source, structure,
                                     CONSENSUS_SOURCE if structure else ""))
    stats["rejected"] = dict(sorted(rejected.items()))
    return kept


def drop_duplicates(records: list[CorpusRecord], counts: dict) -> list[CorpusRecord]:
    """Step 4: keep the first record of every distinct sequence."""
    seen: set[str] = set()
    kept = []
    for record in records:
        if record.sequence in seen:
            counts[record.source]["duplicates"] += 1
        else:
            seen.add(record.sequence)
            kept.append(record)
    return kept


def read_references(paths: list[str]) -> tuple[list[str], list[str]]:
    """Labels (``file:id``) and sequences of the exclusion references, read leniently."""
    labels, sequences = [], []
    for path in paths:
        for record in read_sequence_file(path):
            sequence = normalize_sequence(_NON_NUCLEOTIDE.sub("N", record.sequence))
            if sequence:
                labels.append(f"{Path(path).name}:{record.id}")
                sequences.append(sequence)
    return labels, sequences


def drop_excluded(
    records: list[CorpusRecord], args: argparse.Namespace, counts: dict, out: Path
) -> tuple[list[CorpusRecord], int]:
    """Step 5: drop records similar to any ``--exclude`` sequence; list them in ``excluded.tsv``."""
    labels, references = read_references(args.exclude)
    hits = similar_to(
        {str(index): record.sequence for index, record in enumerate(records)},
        {str(index): sequence for index, sequence in enumerate(references)},
        min_seq_id=args.exclude_min_seq_id,
        coverage=args.coverage,
        threads=args.workers,
    )
    lines = ["id\tsource\treference\tidentity"]
    kept = []
    for index, record in enumerate(records):
        hit = hits.get(str(index))
        if hit is None:
            kept.append(record)
        else:
            counts[record.source]["excluded"] += 1
            lines.append(f"{record.id}\t{record.source}\t{labels[int(hit[0])]}\t{hit[1]:.3f}")
    atomic_write(out / "excluded.tsv", lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    return kept, len(references)


def drop_clustered(records: list[CorpusRecord], args: argparse.Namespace, counts: dict) -> list[CorpusRecord]:
    """Step 6: keep MMseqs2 cluster representatives, clustering ncRNA and other records separately."""
    representatives: set[int] = set()
    for is_ncrna in (True, False):
        group = {str(index): record.sequence for index, record in enumerate(records) if record.is_ncrna == is_ncrna}
        mapping = cluster(group, min_seq_id=args.min_seq_id, coverage=args.coverage, threads=args.workers)
        representatives.update(int(member) for member, representative in mapping.items() if member == representative)
    kept = []
    for index, record in enumerate(records):
        if index in representatives:
            kept.append(record)
        else:
            counts[record.source]["clustered_away"] += 1
    return kept


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a hidden temporary file beside ``path``, then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def fingerprint(args: argparse.Namespace) -> dict:
    """What a resumed run must share with the run that made the plan: inputs and content options."""

    def describe(paths: list[str]) -> list[dict]:
        return [
            {"path": os.path.abspath(path), "size": os.stat(path).st_size, "mtime_ns": os.stat(path).st_mtime_ns}
            for path in paths
        ]

    inputs = {
        "ncrna_consensus": describe(args.ncrna_consensus), "ncrna": describe(args.ncrna),
        "other": describe(args.other), "exclude": describe(args.exclude),
    }
    return json.loads(json.dumps({**inputs, **{name: getattr(args, name) for name in PLAN_OPTIONS}}))


def build_plan(args: argparse.Namespace, out: Path) -> tuple[pa.Table, dict]:
    """Steps 1–7: return the ordered plan table and its metadata (fingerprint and counts)."""
    inputs = args.ncrna_consensus + args.ncrna + args.other
    if len({Path(path).name for path in inputs}) != len(inputs):
        raise ValueError("input files must have distinct file names: the name is the record's source")
    counts: dict = {}
    records = [record for path in args.ncrna_consensus for record in read_input(path, True, args, counts, True)]
    records += [record for path in args.ncrna for record in read_input(path, True, args, counts)]
    records += [record for path in args.other for record in read_input(path, False, args, counts)]
    print(
        f"read {sum(c['read'] for c in counts.values())} records; {len(records)} pass normalisation and length filters"
    )
    records = drop_duplicates(records, counts)
    print(f"{len(records)} distinct sequences")
    references = 0
    if args.exclude:
        records, references = drop_excluded(records, args, counts, out)
        print(
            f"{len(records)} left after excluding matches to {references} reference sequences ({out / 'excluded.tsv'})"
        )
    records = drop_clustered(records, args, counts)
    print(f"{len(records)} MMseqs2 cluster representatives at {args.min_seq_id} identity")
    random.Random(args.seed).shuffle(records)
    for record in records:
        counts[record.source]["planned"] += 1
    table = pa.table(
        {
            "id": [record.id for record in records],
            "sequence": [record.sequence for record in records],
            "structure": [record.structure for record in records],
            "is_ncrna": pa.array([record.is_ncrna for record in records], pa.bool_()),
            "source": [record.source for record in records],
            "structure_source": [record.structure_source for record in records],
        },
        schema=SHARD_SCHEMA,
    )
    metadata = {"fingerprint": fingerprint(args), "counts": counts, "exclude_references": references}
    return table, metadata


def load_or_build_plan(args: argparse.Namespace, out: Path) -> tuple[pa.Table, dict]:
    """Load ``OUT/plan.parquet`` when it was made by the same inputs and options, else build and save it."""
    path = out / PLAN_FILE
    if path.exists():
        table = pq.read_table(path)
        metadata = json.loads(table.schema.metadata[PLAN_METADATA_KEY])
        expected = fingerprint(args)
        if metadata["fingerprint"] != expected:
            changed = sorted(key for key in expected if metadata["fingerprint"].get(key) != expected[key])
            raise ValueError(
                f"{path} was made with different {', '.join(changed)}; "
                f"use another --out (or delete {out}) to start afresh"
            )
        print(f"resuming from {path} ({table.num_rows} records)")
        return table, metadata
    table, metadata = build_plan(args, out)
    stored = table.replace_schema_metadata({PLAN_METADATA_KEY: json.dumps(metadata)})
    atomic_write(path, functools.partial(pq.write_table, stored))
    return table, metadata


def shard_path(out: Path, index: int) -> Path:
    """Where shard ``index`` lives."""
    return out / SHARD_DIR / f"shard-{index:05d}.parquet"


def shard_is_complete(path: Path, rows: int) -> bool:
    """True when ``path`` is a readable parquet file with the planned number of rows."""
    try:
        return pq.read_metadata(path).num_rows == rows
    except (OSError, pa.ArrowInvalid):
        return False


def write_shards(plan: pa.Table, out: Path, backend: FoldingBackend, args: argparse.Namespace) -> tuple[int, bool]:
    """Step 8: fold and write every missing shard; return (shards written now, all shards complete).

    ncRNA rows whose plan holds a structure (a projected consensus) keep it; the others are folded.
    """
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    columns = {name: plan.column(name).to_pylist() for name in SHARD_SCHEMA.names}
    sequences, is_ncrna = columns["sequence"], columns["is_ncrna"]
    to_fold = [ncrna and not structure for ncrna, structure in zip(is_ncrna, columns["structure"])]
    folded_source = folded_structure_source(backend.name)
    shards = [
        range(start, min(start + args.shard_size, plan.num_rows)) for start in range(0, plan.num_rows, args.shard_size)
    ]
    pending = [index for index, rows in enumerate(shards) if not shard_is_complete(shard_path(out, index), len(rows))]
    pending_rows = [row for index in pending for row in shards[index]]
    structures = fold_many((sequences[row] for row in pending_rows if to_fold[row]), backend, args.workers)
    written = 0
    try:
        with tqdm(total=len(pending_rows), unit="seq", desc=f"folding ({backend.name}) and writing") as progress:
            for index in pending:
                rows = shards[index]
                shard_columns = {name: [values[row] for row in rows] for name, values in columns.items()}
                for position, row in enumerate(rows):
                    if to_fold[row]:
                        structure = next(structures)
                        if len(structure) != len(sequences[row]):
                            raise RuntimeError(
                                f"{backend.name} returned {len(structure)} characters for {len(sequences[row])} nt"
                            )
                        shard_columns["structure"][position] = structure
                        shard_columns["structure_source"][position] = folded_source
                    progress.update()
                shard = pa.table(shard_columns, schema=SHARD_SCHEMA)
                atomic_write(shard_path(out, index), functools.partial(pq.write_table, shard))
                written += 1
                if args.stop_after_shards is not None and written >= args.stop_after_shards and index != pending[-1]:
                    return written, False
    finally:
        structures.close()  # terminates the folding pool when stopping early
    return written, True


def summarise(out: Path, metadata: dict, num_shards: int, args: argparse.Namespace) -> dict:
    """Per-input and total counts of every step, with written/folded/structure sources counted from the shards."""
    counts = metadata["counts"]
    folded_source = folded_structure_source(args.folding)
    structure_sources: dict[str, Counter] = {source: Counter() for source in counts}
    for stats in counts.values():
        stats["written"] = stats["folded"] = 0
    for index in range(num_shards):
        shard = pq.read_table(shard_path(out, index), columns=["structure_source", "source"])
        columns = (shard.column("structure_source").to_pylist(), shard.column("source").to_pylist())
        for structure_source, source in zip(*columns, strict=True):
            counts[source]["written"] += 1
            counts[source]["folded"] += structure_source == folded_source
            if structure_source:
                structure_sources[source][structure_source] += 1
    for source, stats in counts.items():
        stats["structure_sources"] = dict(sorted(structure_sources[source].items()))
    total: dict = {key: sum(stats[key] for stats in counts.values()) for key in (*COUNT_KEYS, "written", "folded")}
    total["rejected"] = dict(sum((Counter(stats["rejected"]) for stats in counts.values()), Counter()))
    total["structure_sources"] = dict(sorted(sum(structure_sources.values(), Counter()).items()))
    return {
        "sources": counts,
        "total": total,
        "shards": num_shards,
        "folding": {"backend": args.folding, "temperature": args.temperature},
        "exclude_references": metadata["exclude_references"],
        "options": metadata["fingerprint"],
    }


def summary_cell(stats: dict, key: str) -> int:
    """One count of a summary row: rejections summed over reasons, consensus structures by source."""
    if key == "rejected":
        return sum(stats[key].values())
    return stats["structure_sources"].get(key, 0) if key == CONSENSUS_SOURCE else stats[key]


def print_summary(summary: dict) -> None:
    """A markdown table of the step counts per input."""
    columns = (
        "read",
        "sampled_out",
        "rejected",
        "too_short",
        "too_long",
        "duplicates",
        "excluded",
        "clustered_away",
        "written",
        "folded",
        CONSENSUS_SOURCE,
    )
    print("| source | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, stats in [*summary["sources"].items(), ("total", summary["total"])]:
        cells = [str(summary_cell(stats, key)) for key in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")


def run(args: argparse.Namespace) -> int:
    """Build or resume the corpus in ``args.out``; return the exit code."""
    for path in args.ncrna_consensus + args.ncrna + args.other + args.exclude:
        if not os.path.isfile(path):
            raise ValueError(f"input file not found: {path}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    backend_options = {} if args.temperature is None else {"temperature": args.temperature}
    backend = get_folding_backend(args.folding, **backend_options)
    plan, metadata = load_or_build_plan(args, out)
    written, complete = write_shards(plan, out, backend, args)
    num_shards = math.ceil(plan.num_rows / args.shard_size)
    if not complete:
        print(f"stopped after {written} shard(s) (--stop-after-shards); run the same command again to finish")
        return 0
    summary = summarise(out, metadata, num_shards, args)
    atomic_write(out / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
    print_summary(summary)
    print(f"{summary['total']['written']} records in {num_shards} shard(s) under {out / SHARD_DIR}")
    print(f"counts in {out / 'summary.json'}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ncrna", nargs="+", default=[], metavar="PATH", help="ncRNA inputs (folded)")
    parser.add_argument(
        "--ncrna-consensus", nargs="+", default=[], metavar="PATH",
        help="ncRNA Stockholm alignments (or tar archives of them, e.g. the Rfam seeds) whose members take their "
        "family's SS_cons projected onto them instead of a prediction",
    )
    parser.add_argument("--other", nargs="+", default=[], metavar="PATH", help="non-ncRNA inputs (not folded)")
    parser.add_argument("--out", required=True, help="output directory (resumed when it holds a plan)")
    parser.add_argument(
        "--exclude", nargs="+", default=[], metavar="PATH", help="drop records similar to these sequences"
    )
    parser.add_argument("--exclude-min-seq-id", type=float, default=0.8, help="identity for --exclude (default 0.8)")
    parser.add_argument("--min-seq-id", type=float, default=0.8, help="MMseqs2 clustering identity (default 0.8)")
    parser.add_argument("--coverage", type=float, default=0.8, help="MMseqs2 coverage of both sequences (default 0.8)")
    parser.add_argument("--min-length", type=int, default=10, help="shortest sequence kept, nt (default 10)")
    parser.add_argument("--max-length", type=int, default=4096, help="longest sequence kept, nt (default 4096)")
    parser.add_argument("--folding", default="vienna", choices=available_folding_backends(), help="structure predictor")
    parser.add_argument("--temperature", type=float, default=None, help="folding temperature in °C (backend default)")
    parser.add_argument("--shard-size", type=int, default=2000, help="records per shard (default 2000)")
    parser.add_argument("--workers", type=int, default=1, help="folding processes and MMseqs2 threads (default 1)")
    parser.add_argument("--limit", type=int, default=None, help="random sample of at most N records per input file")
    parser.add_argument("--seed", type=int, default=0, help="seed of --limit sampling and of the record order")
    parser.add_argument(
        "--stop-after-shards", type=int, default=None, metavar="N", help="stop after writing N shards (tests resuming)"
    )
    args = parser.parse_args(argv)
    if not args.ncrna_consensus and not args.ncrna and not args.other:
        parser.error("give at least one input with --ncrna-consensus, --ncrna or --other")
    for name in ("min_length", "max_length", "shard_size", "workers", "limit", "stop_after_shards"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.max_length < args.min_length:
        parser.error(f"--max-length {args.max_length} is below --min-length {args.min_length}")
    for name in ("min_seq_id", "coverage", "exclude_min_seq_id"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (ValueError, OSError) as error:
        print(f"{Path(sys.argv[0]).name}: error: {error}", file=sys.stderr)
        return 2
    except MMseqsError as error:
        print(f"{Path(sys.argv[0]).name}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
