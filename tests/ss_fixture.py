"""A tiny secondary-structure dataset build (train/valid/test parquet + manifest) for script tests."""

from __future__ import annotations

from pathlib import Path

from modeling_ssrlm.data.ss_datasets import SplitBuild, SSRecord, check_counts, write_build

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Hairpins whose MFE structure (ViennaRNA 2.x) is the stem given here, plus unstructured decoys.
RECORDS = (
    SSRecord("hairpin4", "GGGGAAAACCCC", ((0, 11), (1, 10), (2, 9), (3, 8)), "toy"),
    SSRecord("hairpin5", "GGGGGAAAACCCCC", ((0, 13), (1, 12), (2, 11), (3, 10), (4, 9)), "toy"),
    SSRecord("loop", "AAAAAAAAAAAAAAAAAAAA", (), "toy"),
    SSRecord("mixed", "GGGCGCAAGCCUAAACUAGU", ((0, 11), (1, 10), (2, 9), (3, 8)), "toy"),
)


def write_tiny_ss_datasets(root: Path) -> Path:
    """Write splits ``tiny/train``, ``tiny/valid`` and ``tiny/test`` (the same 4 records) under ``root``."""
    builds = [
        SplitBuild("tiny", split, role, "test fixture", list(RECORDS), len(RECORDS))
        for split, role in (("train", "train"), ("valid", "valid"), ("test", "test"))
    ]
    write_build(builds, root, "test fixture", check_counts(builds, {}))
    return root
