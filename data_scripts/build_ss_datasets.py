#!/usr/bin/env python
"""Build the secondary-structure benchmark splits as parquet, check their sizes and report leakage.

One command turns the shared data directory into ``OUT/data/<dataset>/<split>.parquet`` plus
``OUT/manifest.json`` and ``OUT/counts.md`` (see :mod:`modeling_ssrlm.data.ss_datasets` for the layout,
the columns and every per-source decision). Unless ``--skip-leakage`` is given, every
(training split, test split) pair is checked for exact-sequence and ≥ 80 %-identity overlaps
with MMseqs2 and written to ``OUT/leakage.json`` / ``OUT/leakage.md``. ``--write-fasta`` also
writes each test split as ``OUT/fasta/<dataset>_<split>.fa`` for the pre-training ``--exclude``.

``--sources rfam_ss`` (not built by default) adds ``rfam_ss/train`` and a family-disjoint
``rfam_ss/valid``: Rfam seed members with their family's consensus structure projected onto them,
minus every member ``--min-seq-id`` identical (MMseqs2, ``--threads``) to a sequence of any test
split; the test splits are read in the same run (see :mod:`modeling_ssrlm.data.rfam`).

Examples::

    python data_scripts/build_ss_datasets.py --out runs/ss_datasets --write-fasta --threads 2
    python data_scripts/build_ss_datasets.py --out runs/rfam_ss --sources rfam_ss --skip-leakage --threads 2

Exit status: 0 on success; 1 when MMseqs2 fails, or with ``--strict`` when a count differs from
the data README's figure; 2 on bad input (bad option value, missing or malformed source file).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from modeling_ssrlm.io.mmseqs import MMseqsError
from modeling_ssrlm.data.rfam import RfamOptions
from modeling_ssrlm.data.ss_datasets import (
    READERS,
    RFAM_SOURCE,
    SSDataError,
    build_splits,
    check_counts,
    format_counts_table,
    format_leakage_table,
    leakage_pairs_for,
    leakage_report,
    write_build,
    write_fasta,
    write_leakage,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data",
                        help="shared benchmark data directory (default: ../shared/data next to the repo)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "ss_datasets",
                        help="output directory (default: runs/ss_datasets in the repo, git-ignored)")
    parser.add_argument("--sources", nargs="+", choices=sorted({*READERS, RFAM_SOURCE}), default=None,
                        help=f"build only these sources (default: all but {RFAM_SOURCE}, which runs MMseqs2 "
                        "over the Rfam seeds)")
    parser.add_argument("--skip-leakage", action="store_true", help="do not run the train/test overlap check")
    parser.add_argument("--write-fasta", action="store_true", help="also write each test split as FASTA")
    parser.add_argument("--min-seq-id", type=float, default=0.8,
                        help="identity threshold of the similarity check and of the rfam_ss test exclusion")
    parser.add_argument("--threads", type=int, default=1, help="MMseqs2 threads")
    parser.add_argument("--rfam-max-length", type=int, default=RfamOptions.max_length,
                        help="rfam_ss: drop members longer than this, nt (default %(default)s)")
    parser.add_argument("--rfam-valid-fraction", type=float, default=RfamOptions.valid_fraction,
                        help="rfam_ss: fraction of hold-out units (clans, else families) in valid "
                        "(default %(default)s)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a count mismatches")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not 0.0 < args.min_seq_id <= 1.0:
        print(f"error: --min-seq-id must be in (0, 1], got {args.min_seq_id}", file=sys.stderr)
        return 2
    if args.threads < 1:
        print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return 2
    if args.rfam_max_length < 1:
        print(f"error: --rfam-max-length must be at least 1, got {args.rfam_max_length}", file=sys.stderr)
        return 2
    if not 0.0 <= args.rfam_valid_fraction < 1.0:
        print(f"error: --rfam-valid-fraction must be in [0, 1), got {args.rfam_valid_fraction}", file=sys.stderr)
        return 2
    if not args.data_dir.is_dir():
        print(f"error: data directory {args.data_dir} does not exist", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rfam_options = RfamOptions(args.rfam_max_length, args.rfam_valid_fraction, args.min_seq_id, args.threads)
    try:
        builds = build_splits(args.data_dir, args.sources, rfam_options)
    except SSDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except MMseqsError as error:
        print(f"error: {RFAM_SOURCE} test exclusion failed: {error}", file=sys.stderr)
        return 1
    checks = check_counts(builds)
    manifest = write_build(builds, args.out, args.data_dir, checks)
    print(format_counts_table(checks))
    print(f"\nwrote {len(builds)} splits; manifest: {manifest}")
    if args.write_fasta:
        paths = write_fasta(builds, args.out)
        print(f"wrote {len(paths)} test FASTA files under {args.out / 'fasta'}")
    if not args.skip_leakage:
        try:
            rows = leakage_report(builds, leakage_pairs_for(builds), min_seq_id=args.min_seq_id, threads=args.threads)
        except MMseqsError as error:
            print(f"error: leakage check failed: {error}", file=sys.stderr)
            return 1
        write_leakage(rows, args.out)
        print("\n" + format_leakage_table(rows))
        print(f"leakage tables: {args.out / 'leakage.md'}, {args.out / 'leakage.json'}")
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    mismatches = [c.name for c in checks if not c.ok]
    if mismatches:
        print(f"count mismatch in {len(mismatches)} split(s): {', '.join(mismatches)}", file=sys.stderr)
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
