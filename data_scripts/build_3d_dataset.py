#!/usr/bin/env python
"""Build the RNA 3D train/valid/test chain sets for ``fold3d.py`` from PDB/mmCIF files.

Every RNA chain of the first model of every structure file is one record (sequence with modified
nucleotides mapped to their parent base, backbone/sugar atoms + glycosidic N, atom masks, stated
resolution). Then:

* filters: ``--min-length`` ≤ length ≤ ``--max-length`` (default 16-256 nt; training chains up to
  ``--max-train-length``, default 400 nt, since training crops them), resolution ≤
  ``--max-resolution`` where the file states one (files without a resolution, e.g. the cleaned
  benchmark natives and NMR entries, are kept), and at least ``--min-frames`` of the residues with
  all three frame atoms (P, C4', N1/N9);
* test set: the CASP15 and RNA-Puzzles natives (State-of-the-RNArt's ``CASP_RNA`` and
  ``RNA_PUZZLES`` plus ``rna_puzzles/``), de-duplicated by exact sequence;
* training pool: everything else (State-of-the-RNArt ``RNASOLO`` and every RNA chain of the raw
  RNA3D-Bench entries, which carry resolutions, plus any ``--structures DIR``), minus every chain
  with ≥ ``--max-test-identity`` sequence identity (MMseqs2, ``--coverage``) to a test chain. Chains
  with the same sequence as an earlier training chain but their own coordinates (the second copy in
  a dimer, another entry of the same RNA) are kept as extra training examples (``--no-identical-train``
  drops them); exact copies (same sequence and coordinates) are dropped;
* the pool is clustered at the same identity with MMseqs2 and whole clusters go to ``valid``
  (``--valid-fraction``, seeded) so that no validation chain has a close homologue in ``train``.

The shared data give only a few dozen training chains. To train on a full PDB mirror pass
``--structures /path/to/mmCIF`` (a directory searched recursively for ``.cif``/``.cif.gz``/``.pdb``/
``.ent.gz`` files); nothing else changes.

Outputs in ``--out``: ``train.npz``, ``valid.npz``, ``test.npz`` (see ``modeling_ssrlm.fold3d.data``),
``test.fasta`` and ``manifest.tsv`` (one line per chain read, with its split or why it was dropped).
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
from modeling_ssrlm.fold3d.data import save_chains
from modeling_ssrlm.fold3d.pdb_io import (
    ATOM_INDEX,
    STRUCTURE_SUFFIXES,
    RNAChain,
    StructureFileError,
    read_rna_chains,
    read_structure_text,
)


@dataclass(frozen=True)
class Source:
    """A tarball or directory of structure files; only members whose path contains ``include`` are read."""

    path: Path
    include: str
    role: str  # "test" or "train"
    label: str


def default_sources(data_dir: Path) -> list[Source]:
    """The shared-data sources, test sources first (their order decides which duplicate is kept)."""
    rnart = data_dir / "rna3d" / "state_of_the_rnart_natives.tar.gz"
    bench = data_dir / "rna3d" / "rna3d_bench_datasets.tar.gz"
    puzzles = data_dir / "rna_puzzles" / "rna_puzzles_solutions.tar.gz"
    return [
        Source(rnart, "/CASP_RNA/", "test", "casp15"),
        Source(rnart, "/RNA_PUZZLES/", "test", "rna_puzzles"),
        Source(puzzles, "/rp", "test", "rna_puzzles"),
        Source(rnart, "/RNASOLO/", "train", "rnasolo"),
        Source(bench, "/raw_pdb/", "train", "rna3d_bench"),
    ]


def iter_structure_texts(source: Source) -> Iterator[tuple[str, str]]:
    """``(member path, file text)`` for the structure files of a source, in sorted order."""
    if source.path.is_dir():
        for path in sorted(source.path.rglob("*")):
            if path.is_file() and path.name.lower().endswith(STRUCTURE_SUFFIXES) and source.include in str(path):
                yield str(path), read_structure_text(path)
        return
    if not source.path.is_file():
        raise FileNotFoundError(f"source {source.path} does not exist")
    with tarfile.open(source.path) as archive:
        members = sorted(
            (m for m in archive.getmembers()
             if m.isfile() and m.name.lower().endswith(STRUCTURE_SUFFIXES) and source.include in m.name),
            key=lambda m: m.name,
        )
        for member in members:
            raw = archive.extractfile(member).read()
            if member.name.endswith(".gz"):
                raw = gzip.decompress(raw)
            yield member.name, io.TextIOWrapper(io.BytesIO(raw)).read()


def record_prefix(source: Source, member: str) -> str:
    """Record id prefix: source label + file stem, e.g. ``casp15-R1107`` (usable as a file name)."""
    stem = Path(member).name.split(".")[0]
    return f"{source.label}-{stem}"


def chain_problem(chain: RNAChain, args: argparse.Namespace, role: str = "test") -> str | None:
    """Why a chain fails the filters, or None when it passes."""
    length = len(chain.sequence)
    max_length = args.max_length if role == "test" else max(args.max_length, args.max_train_length)
    if not args.min_length <= length <= max_length:
        return f"length {length} outside {args.min_length}-{max_length}"
    if chain.resolution is not None and chain.resolution > args.max_resolution:
        return f"resolution {chain.resolution} > {args.max_resolution}"
    frame_atoms = [ATOM_INDEX["P"], ATOM_INDEX["C4'"], ATOM_INDEX["N"]]
    with_frames = chain.atom_mask[:, frame_atoms].all(axis=1).mean()
    if with_frames < args.min_frames:
        return f"only {with_frames:.0%} of residues have P, C4' and N1/N9"
    return None


def split_by_cluster(names: list[str], clusters: dict[str, str], valid_fraction: float,
                     seed: int) -> tuple[list[str], list[str]]:
    """Assign whole clusters to valid until it holds ``valid_fraction`` of the chains."""
    members: dict[str, list[str]] = {}
    for name in names:
        members.setdefault(clusters.get(name, name), []).append(name)
    representatives = sorted(members)
    random.Random(seed).shuffle(representatives)
    target = round(valid_fraction * len(names))
    valid: list[str] = []
    for representative in representatives:
        if len(valid) >= target:
            break
        valid.extend(members[representative])
    valid_set = set(valid)
    return [n for n in names if n not in valid_set], [n for n in names if n in valid_set]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default_data = REPO_ROOT.parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=default_data, help="shared data folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--structures", type=Path, action="append", default=[],
                        help="extra training directory of PDB/mmCIF files, e.g. a PDB mirror (repeatable)")
    parser.add_argument("--no-default-train", action="store_true",
                        help="do not use the shared-data training sources (only --structures)")
    parser.add_argument("--min-length", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256, help="longest test chain (nt)")
    parser.add_argument("--max-train-length", type=int, default=400,
                        help="longest training/validation chain (nt; training crops it)")
    parser.add_argument("--no-identical-train", action="store_true",
                        help="drop training chains whose sequence repeats an earlier training chain")
    parser.add_argument("--max-resolution", type=float, default=4.0, help="Å; applied where a file states one")
    parser.add_argument("--min-frames", type=float, default=0.5,
                        help="minimum fraction of residues with all three frame atoms (default: %(default)s)")
    parser.add_argument("--max-test-identity", type=float, default=0.8,
                        help="drop training chains with at least this MMseqs2 identity to a test chain")
    parser.add_argument("--coverage", type=float, default=0.8, help="MMseqs2 coverage for identity and clustering")
    parser.add_argument("--valid-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if not 0 < args.min_length <= args.max_length:
        parser.error(f"need 0 < --min-length <= --max-length, got {args.min_length}, {args.max_length}")
    if not 0 <= args.valid_fraction < 1 or not 0 < args.max_test_identity <= 1:
        parser.error("--valid-fraction must be in [0, 1) and --max-test-identity in (0, 1]")
    return args


def _same_coordinates(first: RNAChain, second: RNAChain, tolerance: float = 0.5) -> bool:
    """True when two chains of one sequence have (nearly) the same C4' coordinates in the same frame."""
    c4 = ATOM_INDEX["C4'"]
    both = first.atom_mask[:, c4] & second.atom_mask[:, c4]
    if not both.any():
        return False
    difference = first.coords[both, c4] - second.coords[both, c4]
    return float(abs(difference).max()) < tolerance


def collect(sources: list[Source], args: argparse.Namespace,
            manifest: list[list[str]]) -> dict[str, list[RNAChain]]:
    """Read and filter every chain; returns the passing chains per role, logging all to ``manifest``."""
    chains: dict[str, list[RNAChain]] = {"test": [], "train": []}
    seen: dict[str, str] = {}  # sequence -> first record id
    test_sequences: set[str] = set()
    train_copies: dict[str, list[RNAChain]] = {}
    for source in sources:
        for member, text in iter_structure_texts(source):
            try:
                file_chains = read_rna_chains(text, member, record_prefix(source, member))
            except StructureFileError as error:
                manifest.append([Path(member).name, "dropped", source.label, "", "", str(error)])
                continue
            for chain in file_chains:
                row = [chain.name, "", source.label, str(len(chain.sequence)),
                       "" if chain.resolution is None else f"{chain.resolution:.2f}"]
                problem = chain_problem(chain, args, source.role)
                if problem is None and chain.sequence in seen:
                    first = seen[chain.sequence]
                    if source.role == "test" or chain.sequence in test_sequences or args.no_identical_train:
                        problem = f"same sequence as {first}"
                    elif any(_same_coordinates(chain, other) for other in train_copies[chain.sequence]):
                        problem = f"same sequence and coordinates as {first}"
                if problem is not None:
                    manifest.append(row[:1] + ["dropped"] + row[2:] + [problem])
                    continue
                seen.setdefault(chain.sequence, chain.name)
                if source.role == "test":
                    test_sequences.add(chain.sequence)
                else:
                    train_copies.setdefault(chain.sequence, []).append(chain)
                chains[source.role].append(chain)
                manifest.append(row[:1] + [source.role] + row[2:] + [""])
    return chains


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from modeling_ssrlm.io import mmseqs

    sources = [s for s in default_sources(args.data_dir) if s.role == "test" or not args.no_default_train]
    sources += [Source(path, "", "train", path.name) for path in args.structures]
    manifest: list[list[str]] = []
    try:
        chains = collect(sources, args, manifest)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    test, pool = chains["test"], chains["train"]
    similar = mmseqs.similar_to(
        {c.name: c.sequence for c in pool}, {c.name: c.sequence for c in test},
        min_seq_id=args.max_test_identity, coverage=args.coverage, threads=args.threads,
    )
    reasons = {name: f"identity {identity:.2f} to test {target}" for name, (target, identity) in similar.items()}
    pool = [c for c in pool if c.name not in reasons]
    clusters = mmseqs.cluster({c.name: c.sequence for c in pool}, min_seq_id=args.max_test_identity,
                              coverage=args.coverage, threads=args.threads)
    train_names, valid_names = split_by_cluster([c.name for c in pool], clusters, args.valid_fraction, args.seed)
    split_of = {**{n: "train" for n in train_names}, **{n: "valid" for n in valid_names}}
    for row in manifest:
        if row[0] in reasons:
            row[1], row[5] = "dropped", reasons[row[0]]
        elif row[0] in split_of:
            row[1], row[5] = split_of[row[0]], f"cluster {clusters.get(row[0], row[0])}"

    args.out.mkdir(parents=True, exist_ok=True)
    by_name = {c.name: c for c in pool}
    save_chains(args.out / "train.npz", [by_name[n] for n in train_names])
    save_chains(args.out / "valid.npz", [by_name[n] for n in valid_names])
    save_chains(args.out / "test.npz", test)
    (args.out / "test.fasta").write_text("".join(f">{c.name}\n{c.sequence}\n" for c in test))
    header = "record\tsplit\tsource\tlength\tresolution\tnote\n"
    (args.out / "manifest.tsv").write_text(header + "".join("\t".join(row) + "\n" for row in manifest))
    print(f"train {len(train_names)}, valid {len(valid_names)}, test {len(test)} chains; "
          f"{len(reasons)} dropped for identity to test; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
