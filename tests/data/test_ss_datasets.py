"""Tests for modeling_ssrlm.data.ss_datasets and data_scripts/build_ss_datasets.py.

Every source is mimicked by a tiny archive written into ``tmp_path`` with the real layout (file
names, member paths, header quirks), so the expected records are known by hand.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from script_loader import load_script

from modeling_ssrlm.data.rfam import RfamOptions
from modeling_ssrlm.data.ss_datasets import (
    EXPECTED_COUNTS,
    SplitBuild,
    SSDataError,
    SSRecord,
    build_splits,
    check_counts,
    format_counts_table,
    format_leakage_table,
    leakage_pairs_for,
    leakage_report,
    load_ss_split,
    reference_sequences,
    to_rna_alphabet,
    write_build,
    write_fasta,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


# --------------------------------------------------------------------------- fixture writers


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _write_tar(path: Path, members: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            _add_text(tar, name, text)


def _ct(title: str, sequence: str, pairs: list[tuple[int, int]]) -> str:
    """CT text for 0-based ``pairs`` (written 1-based, as ArchiveII does)."""
    partner = {i: j for p in pairs for i, j in (p, p[::-1])}
    rows = [f"{len(sequence)}\t{title}"]
    for k, base in enumerate(sequence):
        rows.append(f"{k + 1}\t{base}\t{k}\t{k + 2}\t{partner.get(k, -1) + 1}\t{k + 1}")
    return "\n".join(rows) + "\n"


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    # bpRNA: three-line dbn records; TS0 lists one id the short subset lacks.
    (root / "bprna_spot").mkdir(parents=True)
    dbn = (
        ">bpRNA_RFAM_1\nGGGAAACCC\n(((...)))\n"
        ">bpRNA_CRW_2\nggRAAAUCC\n((.....))\n"
        ">bpRNA_PDB_3\nGCAAAAGCAAAAGC\nA.((a....))...\n"
        ">bpRNA_RFAM_4\nACGU\n....\n"
    )
    (root / "bprna_spot/bpRNA-1m_90_short.dbn.gz").write_bytes(gzip.compress(dbn.encode()))
    split_rows = [
        {"id": "bpRNA_RFAM_1", "fold": 0, "partition": "TR0", "min_train_dist": ""},
        {"id": "bpRNA_CRW_2", "fold": 0, "partition": "VL0", "min_train_dist": ""},
        {"id": "bpRNA_PDB_3", "fold": 0, "partition": "TS0", "min_train_dist": ""},
        {"id": "bpRNA_RFAM_99", "fold": 0, "partition": "TS0", "min_train_dist": ""},
        {"id": "bpRNA_RFAM_4", "fold": 0, "partition": "new", "min_train_dist": ""},
    ]
    (root / "bprna_spot/TR0-TS0_splits.csv.gz").write_bytes(gzip.compress(_csv(split_rows).encode()))
    # ArchiveII: 5s_b repeats 5s_a's sequence with another structure; 5s_zz has no CT file.
    _write_tar(
        root / "archiveII/archiveII.tar.gz",
        {
            "archiveII/5s_a.ct": _ct("5s_a", "GGGGAAAACCCC", [(0, 11), (1, 10), (2, 9), (3, 8)]),
            "archiveII/5s_a.seq": ";\n5s_a\nGGGGAAAACCCC1\n",
            "archiveII/5s_b.ct": _ct("5s_b", "GGGGAAAACCCC", [(0, 11), (1, 10)]),
            "archiveII/tRNA_c.ct": _ct("tRNA_c", "GCGCUUUUGCGU", [(0, 9), (1, 8), (2, 7), (3, 10)]),
            "archiveII/README.txt": "ArchiveII\n",
        },
    )
    famfold = [
        {"fold_name": "5s", "fold_number": 0, "partition": "train", "id": "tRNA_c"},
        {"fold_name": "5s", "fold_number": 0, "partition": "test", "id": "5s_a"},
        {"fold_name": "5s", "fold_number": 0, "partition": "test", "id": "5s_b"},
        {"fold_name": "5s", "fold_number": 0, "partition": "test", "id": "5s_zz"},
        {"fold_name": "tRNA", "fold_number": 1, "partition": "train", "id": "5s_a"},
        {"fold_name": "tRNA", "fold_number": 1, "partition": "valid", "id": "5s_b"},
        {"fold_name": "tRNA", "fold_number": 1, "partition": "test", "id": "tRNA_c"},
    ]
    _write_tar(
        root / "archiveII/archiveII_sinc-lab_csv_splits.tar.gz", {"splits_sinc-lab/split_famfold.csv": _csv(famfold)}
    )
    # SPOT-RNA PDB: 1-based pair lists, a multiplet, modified bases T and P, both header styles.
    (root / "spot_rna_pdb").mkdir()
    with zipfile.ZipFile(root / "spot_rna_pdb/PDB_dataset.zip", "w") as zf:
        zf.writestr("PDB_dataset/TR1_labels/1abc-1-A", "# 1abc-1-A\t L = 6\ni\tj\t\n1\t6\n1\t5\n2\t4\n")
        zf.writestr("PDB_dataset/TR1_sequences/1abc-1-A", ">1abc-1-A\nGGTPCC\n")
        zf.writestr("PDB_dataset/VL1_labels/2vvv-1-B", "# 2vvv-1-B\t L = 5\ni\tj\t\n1\t5\n")
        zf.writestr("PDB_dataset/VL1_sequences/2vvv-1-B", ">2vvv-1-B\nGAAAC\n")
        zf.writestr("PDB_dataset/VL1_sequences/val2_seq", ">leftover\nACGU\n")
        zf.writestr("PDB_dataset/TS1_labels/3ttt-1-C", "# 3ttt-1-C\t L = 6\ni\tj\t\n1\t6\n")
        zf.writestr("PDB_dataset/TS1_sequences/3ttt-1-C", ">3ttt-1-C\nGGTPCC\n")
        zf.writestr("PDB_dataset/TS2_labels/4sss", "# 4sss   L=4\ni  j\n1  4\n")
        zf.writestr("PDB_dataset/TS2_sequences/4sss", ">4sss\nGAAC\n")
    # RNA3DB-2D: a residue without coordinates, one unbalanced row, letter-free pseudoknot.
    rna3db_rows = [
        {"full_id": "1aaa_A", "component_x": "component_1", "dataset": "train_set",
         "Sequence_Canonical": "UGGGAAACCC", "Sequence_Corrected": "-GGGAAACCC", "Structure_Corrected": ".(((...)))"},
        {"full_id": "1bbb_A", "component_x": "component_2", "dataset": "train_set",
         "Sequence_Canonical": "GGAAAC", "Sequence_Corrected": "GGAAAC", "Structure_Corrected": "((...)"},
        {"full_id": "1ccc_B", "component_x": "component_3", "dataset": "valid_set",
         "Sequence_Canonical": "GGAAGGUUCCAACC", "Sequence_Corrected": "GGAAGGUUCCAACC",
         "Structure_Corrected": "((..[[..))..]]"},
    ]
    _write_tar(
        root / "rna3db_2d/rna3db_2d_train_valid.tar.gz",
        {"rna3db_2d_structures/data/analysis_output/05_final_selected_dataset.csv": _csv(rna3db_rows)},
    )
    # SQUARNA: headers with spaces, '<' '>' brackets, a trailing blank line.
    _write_tar(
        root / "squarna/squarna_datasets.tar.gz",
        {
            "SRtrain.fas": ">1P6V [24],1.D.U.16.\nGGGAAACCC\n(((...)))\n>1P6V [45],1.B.G.13.\nGGAAACC\n<<...>>\n",
            "SRtest.fas": ">2XYZ [8]\nGGGAAACCC\n(((...)))\n",
            "TS1reducedWC.fas": ">3ttt-1-C\nGGUACC\n(....)\n\n",
            "README.md": "SQUARNA data\n",
        },
    )
    return root


def _by_name(builds):
    return {b.name: b for b in builds}


def _write_rfam_seed(data_dir: Path) -> None:
    """Two Rfam families; one member of each is identical to a fixture test sequence."""
    families = {
        # "GGGGAAAACCCC" is ArchiveII 5s_a (test split archiveii/all); the other member keeps a G-U pair.
        "RF00001": ("<<<<....>>>>", {"copy_5s_a": "GGGGAAAACCCC", "kept1": "GGGCAAAAGCCU"}),
        # "GCAAAAGCAAAAGC" is bpRNA_PDB_3 (bprna/TS0); "kept2" has a pseudoknot in brackets.
        "RF00002": ("<<..[[..>>..]]", {"copy_ts0": "GCAAAAGCAAAAGC", "kept2": "GGAAGGAACCAACC"}),
    }
    members = {}
    for accession, (ss_cons, rows) in families.items():
        body = "".join(f"{name} {row}\n" for name, row in rows.items())
        members[f"Rfam14.9/sto/{accession}.sto"] = (
            f"# STOCKHOLM 1.0\n#=GF AC   {accession}\n{body}#=GC SS_cons {ss_cons}\n//\n")
    _write_tar(data_dir / "rfam/rfam14.9_seed_sto.tar.gz", members)


# --------------------------------------------------------------------------- sequences


def test_to_rna_alphabet_reads_t_as_u_and_unknown_letters_as_n():
    assert to_rna_alphabet("acgtPIXRn") == "ACGUNNNNN"


def test_to_rna_alphabet_rejects_non_letters_with_position():
    with pytest.raises(SSDataError, match=r"'-' at position 2"):
        to_rna_alphabet("AC-G")


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=122).filter(str.isalpha), max_size=50))
def test_to_rna_alphabet_keeps_length_and_alphabet(sequence):
    converted = to_rna_alphabet(sequence)
    assert len(converted) == len(sequence)
    assert set(converted) <= set("ACGUN")


# --------------------------------------------------------------------------- readers


def test_build_counts_and_skips(data_dir):
    builds = _by_name(build_splits(data_dir))
    summary = {name: (b.role, b.source_count, len(b.records), b.skipped) for name, b in builds.items()}
    assert summary == {
        "bprna/TR0": ("train", 1, 1, {"id_not_in_short_dbn": 0}),
        "bprna/VL0": ("valid", 1, 1, {"id_not_in_short_dbn": 0}),
        "bprna/TS0": ("test", 2, 1, {"id_not_in_short_dbn": 1}),
        "archiveii/all": ("test", 3, 2, {"identical_sequence": 1}),
        "archiveii_famfold/5s_train": ("train", 1, 1, {"id_without_ct_file": 0}),
        "archiveii_famfold/5s_valid": ("valid", 0, 0, {"id_without_ct_file": 0}),
        "archiveii_famfold/5s_test": ("test", 3, 2, {"id_without_ct_file": 1}),
        "archiveii_famfold/tRNA_train": ("train", 1, 1, {"id_without_ct_file": 0}),
        "archiveii_famfold/tRNA_valid": ("valid", 1, 1, {"id_without_ct_file": 0}),
        "archiveii_famfold/tRNA_test": ("test", 1, 1, {"id_without_ct_file": 0}),
        "spot_rna_pdb/TR1": ("train", 1, 1, {}),
        "spot_rna_pdb/VL1": ("valid", 1, 1, {}),
        "spot_rna_pdb/TS1": ("test", 1, 1, {}),
        "spot_rna_pdb/TS2": ("test", 1, 1, {}),
        "rna3db_2d/train": ("train", 2, 1, {"unbalanced_structure": 1}),
        "rna3db_2d/valid": ("valid", 1, 1, {"unbalanced_structure": 0}),
        "squarna/SRtrain": ("train", 2, 2, {}),
        "squarna/SRtest": ("test", 1, 1, {}),
        "squarna/TS1reducedWC": ("test", 1, 1, {}),
    }


def test_bprna_records(data_dir):
    builds = _by_name(build_splits(data_dir, ["bprna"]))
    (vl0,) = builds["bprna/VL0"].records
    assert (vl0.id, vl0.sequence, vl0.pairs, vl0.family) == ("bpRNA_CRW_2", "GGNAAAUCC", ((0, 8), (1, 7)), "CRW")
    (ts0,) = builds["bprna/TS0"].records
    assert ts0.pairs == ((0, 4), (2, 10), (3, 9))  # letter bracket A..a is a pseudoknot pair
    assert builds["bprna/VL0"].unknown_bases == 1


def test_archiveii_dedup_keeps_first_file_and_counts_conflicts(data_dir):
    builds = _by_name(build_splits(data_dir, ["archiveii"]))
    everything = builds["archiveii/all"]
    assert [(r.id, r.family, r.pairs) for r in everything.records] == [
        ("5s_a", "5s", ((0, 11), (1, 10), (2, 9), (3, 8))),
        ("tRNA_c", "tRNA", ((0, 9), (1, 8), (2, 7), (3, 10))),
    ]
    assert "1 dropped copies had a structure different" in everything.notes
    # The folds keep the published membership, duplicates included.
    assert [r.id for r in builds["archiveii_famfold/5s_test"].records] == ["5s_a", "5s_b"]
    assert builds["archiveii_famfold/5s_test"].records[1].pairs == ((0, 11), (1, 10))


def test_spot_rna_pdb_records_are_zero_based_with_multiplets(data_dir):
    builds = _by_name(build_splits(data_dir, ["spot_rna_pdb"]))
    (tr1,) = builds["spot_rna_pdb/TR1"].records
    assert (tr1.id, tr1.sequence, tr1.pairs) == ("1abc-1-A", "GGUNCC", ((0, 4), (0, 5), (1, 3)))
    assert [r.id for r in builds["spot_rna_pdb/VL1"].records] == ["2vvv-1-B"]  # val2_seq ignored
    assert builds["spot_rna_pdb/TS2"].records[0].pairs == ((0, 3),)


def test_rna3db_2d_uses_canonical_sequence_in_structure_index_space(data_dir):
    builds = _by_name(build_splits(data_dir, ["rna3db_2d"]))
    (train,) = builds["rna3db_2d/train"].records
    assert (train.id, train.sequence, train.pairs, train.family) == (
        "1aaa_A", "UGGGAAACCC", ((1, 9), (2, 8), (3, 7)), "component_1")
    assert builds["rna3db_2d/valid"].records[0].pairs == ((0, 9), (1, 8), (4, 13), (5, 12))


def test_squarna_ids_and_angle_brackets(data_dir):
    builds = _by_name(build_splits(data_dir, ["squarna"]))
    records = builds["squarna/SRtrain"].records
    assert [r.id for r in records] == ["1P6V_[24],1.D.U.16.", "1P6V_[45],1.B.G.13."]
    assert records[1].pairs == ((0, 6), (1, 5))


def test_rfam_ss_excludes_test_sequences_of_sources_not_requested(data_dir):
    _write_rfam_seed(data_dir)
    builds = _by_name(build_splits(data_dir, ["squarna", "rfam_ss"], RfamOptions(valid_fraction=0.0)))
    assert sorted(builds) == ["rfam_ss/train", "rfam_ss/valid", "squarna/SRtest", "squarna/SRtrain",
                              "squarna/TS1reducedWC"]
    train = builds["rfam_ss/train"]
    assert [(r.id, r.pairs, r.family) for r in train.records] == [
        ("RF00001/kept1", ((0, 11), (1, 10), (2, 9), (3, 8)), "RF00001"),
        ("RF00002/kept2", ((0, 9), (1, 8), (4, 13), (5, 12)), "RF00002"),
    ]
    assert (train.role, train.source_count, train.skipped["similar_to_test"]) == ("train", 4, 2)
    excluded = train.reports["excluded.tsv"]
    assert "RF00001/copy_5s_a\tarchiveii/all:5s_a\t1.000" in excluded  # ArchiveII was not requested
    assert "RF00002/copy_ts0\tbprna/TS0:bpRNA_PDB_3\t1.000" in excluded


def test_reference_sequences_keep_each_test_sequence_once(data_dir):
    references = reference_sequences(build_splits(data_dir, ["archiveii", "spot_rna_pdb"]))
    assert references == {
        "archiveii/all:5s_a": "GGGGAAAACCCC", "archiveii/all:tRNA_c": "GCGCUUUUGCGU",
        "spot_rna_pdb/TS1:3ttt-1-C": "GGUNCC", "spot_rna_pdb/TS2:4sss": "GAAC",
    }  # the famfold tests repeat archiveii/all; train and valid splits are not references


def test_malformed_source_raises_naming_the_record(data_dir):
    _write_tar(data_dir / "squarna/squarna_datasets.tar.gz",
               {"SRtrain.fas": ">bad\nGGAAA\n((...\n", "SRtest.fas": "", "TS1reducedWC.fas": ""})
    with pytest.raises(SSDataError, match="SRtrain.fas:bad"):
        build_splits(data_dir, ["squarna"])


def test_unknown_source_and_missing_file(data_dir, tmp_path):
    with pytest.raises(SSDataError, match="unknown source"):
        build_splits(data_dir, ["spot_rna_2d"])
    with pytest.raises(SSDataError, match="missing source file"):
        build_splits(tmp_path / "empty", ["bprna"])


# --------------------------------------------------------------------------- counts


def test_check_counts_flags_mismatches(data_dir):
    builds = build_splits(data_dir, ["spot_rna_pdb"])
    expected = {"spot_rna_pdb/TR1": (1, 1), "spot_rna_pdb/VL1": (1, 2), "spot_rna_pdb/TS1": (1, None)}
    checks = check_counts(builds, expected)
    assert [c.ok for c in checks] == [True, False, True, True]
    table = format_counts_table(checks)
    assert "| spot_rna_pdb/VL1 | 1 / 1 | 1 / 2 | MISMATCH |" in table
    assert "| spot_rna_pdb/TS2 | 1 / — | 1 / — | ok |" in table


def test_expected_counts_cover_every_famfold_split():
    famfold = {n: v for n, v in EXPECTED_COUNTS.items() if n.startswith("archiveii_famfold/")}
    assert len(famfold) == 27
    assert sum(v[0] for n, v in famfold.items() if n.endswith("_test")) == 3864  # each id held out once


# --------------------------------------------------------------------------- writing and loading


def test_write_and_load_round_trip(data_dir, tmp_path):
    builds = build_splits(data_dir)
    out = tmp_path / "out"
    write_build(builds, out, data_dir, check_counts(builds))
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["splits"]["spot_rna_pdb/TR1"]
    assert (entry["path"], entry["count"], entry["pairs"], entry["unknown_bases_N"]) == (
        "data/spot_rna_pdb/TR1.parquet", 1, 3, 1)
    assert manifest["counts_ok"] is False  # the fixture is not the real data
    row = {"id": "1abc-1-A", "sequence": "GGUNCC", "pairs": [[0, 4], [0, 5], [1, 3]], "family": "PDB", "length": 6}
    assert load_ss_split(out, "spot_rna_pdb/TR1")[0] == row
    via_parquet_builder = datasets.load_dataset("parquet", data_files=str(out / entry["path"]), split="train")
    assert via_parquet_builder[0] == row
    assert len(load_ss_split(out, "archiveii_famfold/5s_valid")) == 0
    with pytest.raises(SSDataError, match="unknown split 'bprna/TS9'"):
        load_ss_split(out, "bprna/TS9")
    with pytest.raises(SSDataError, match="manifest.json not found"):
        load_ss_split(tmp_path, "bprna/TS0")


def test_write_fasta_writes_test_splits_only(data_dir, tmp_path):
    paths = write_fasta(build_splits(data_dir, ["spot_rna_pdb", "squarna"]), tmp_path)
    assert sorted(p.name for p in paths) == [
        "spot_rna_pdb_TS1.fa", "spot_rna_pdb_TS2.fa", "squarna_SRtest.fa", "squarna_TS1reducedWC.fa"]
    assert (tmp_path / "fasta/spot_rna_pdb_TS1.fa").read_text() == ">3ttt-1-C\nGGUNCC\n"


# --------------------------------------------------------------------------- leakage


def test_leakage_pairs_only_among_built_splits(data_dir):
    pairs = leakage_pairs_for(build_splits(data_dir, ["spot_rna_pdb", "archiveii"]))
    assert pairs == [
        ("spot_rna_pdb/TR1", "spot_rna_pdb/TS1"), ("spot_rna_pdb/TR1", "spot_rna_pdb/TS2"),
        ("spot_rna_pdb/VL1", "spot_rna_pdb/TS1"), ("spot_rna_pdb/VL1", "spot_rna_pdb/TS2"),
        ("archiveii_famfold/5s_train", "archiveii_famfold/5s_test"),
        ("archiveii_famfold/5s_valid", "archiveii_famfold/5s_test"),
        ("archiveii_famfold/tRNA_train", "archiveii_famfold/tRNA_test"),
        ("archiveii_famfold/tRNA_valid", "archiveii_famfold/tRNA_test"),
    ]


def test_leakage_report_counts_exact_and_similar(data_dir):
    builds = build_splits(data_dir, ["spot_rna_pdb", "archiveii"])
    calls = []

    def fake_similar(queries, targets, min_seq_id, threads):
        calls.append((dict(queries), dict(targets), min_seq_id, threads))
        return {"4sss": ("2vvv-1-B", 0.9)} if "4sss" in queries else {}

    pairs = [("spot_rna_pdb/TR1", "spot_rna_pdb/TS1"), ("spot_rna_pdb/VL1", "spot_rna_pdb/TS2"),
             ("archiveii_famfold/tRNA_train", "archiveii_famfold/5s_test")]
    rows = leakage_report(builds, pairs, similar=fake_similar, min_seq_id=0.8, threads=2)
    assert calls[0] == ({"3ttt-1-C": "GGUNCC"}, {"1abc-1-A": "GGUNCC"}, 0.8, 2)
    counts = [(r["n_train"], r["n_test"], r["exact"], r["similar"]) for r in rows]
    assert counts == [(1, 1, 1, 0), (1, 1, 0, 1), (1, 2, 2, 0)]
    assert rows[0]["exact_ids"] == ["3ttt-1-C"]
    assert rows[1]["similar_hits"] == {"4sss": {"train_id": "2vvv-1-B", "identity": 0.9}}
    table = format_leakage_table(rows)
    assert "| spot_rna_pdb/VL1 | spot_rna_pdb/TS2 | 1 | 1 | 0 (0.0 %) | 1 (100.0 %) |" in table
    assert "≥ 80 % id (MMseqs2, incl. exact)" in table


def test_leakage_report_with_mmseqs(data_dir):
    pytest.importorskip("modeling_ssrlm.io.mmseqs")
    base = "GGCUAGCUAGGCUUACGAUCGAUCGGAUCCGAUGCAUGCUAGCUAGGAUCCGAUCGAUCGUAGC"
    mutated = base[:10] + "A" + base[11:30] + "U" + base[31:]  # 2 mismatches in 64 nt: ~97 % identity
    unrelated = "AUAUAUAUCGCGCGCGUUUUAAAACCCCGGGGAUAUAUAUCGCGCGCGUUUUAAAACCCCGGGG"
    train = SplitBuild("toy", "train", "train", "", [SSRecord("t", base, (), "x")], 1)
    test_records = [SSRecord("m", mutated, (), "x"), SSRecord("u", unrelated, (), "x")]
    test = SplitBuild("toy", "test", "test", "", test_records, 2)
    (row,) = leakage_report([train, test], [("toy/train", "toy/test")])
    assert (row["exact"], list(row["similar_hits"])) == (0, ["m"])
    assert row["similar_hits"]["m"]["identity"] == pytest.approx(62 / 64, abs=0.01)


# --------------------------------------------------------------------------- command line


def test_cli_builds_and_writes_fasta(data_dir, tmp_path, capsys):
    script = load_script("data_scripts/build_ss_datasets.py")
    out = tmp_path / "cli_out"
    args = ["--data-dir", str(data_dir), "--out", str(out), "--skip-leakage", "--write-fasta"]
    assert script.main(args) == 0
    assert script.main(args + ["--strict"]) == 1  # fixture counts differ from the README's
    printed = capsys.readouterr().out
    assert "| bprna/TS0 | 2 / 1,305 | 1 / 473 | MISMATCH |" in printed
    assert (out / "data/squarna/SRtest.parquet").is_file() and (out / "fasta/bprna_TS0.fa").is_file()
    assert not (out / "leakage.json").exists()


def test_cli_builds_rfam_ss_readable_with_load_ss_split(data_dir, tmp_path):
    _write_rfam_seed(data_dir)
    script = load_script("data_scripts/build_ss_datasets.py")
    out = tmp_path / "rfam_out"
    args = ["--data-dir", str(data_dir), "--out", str(out), "--sources", "rfam_ss", "--skip-leakage",
            "--rfam-max-length", "13", "--rfam-valid-fraction", "0", "--threads", "2"]
    assert script.main(args) == 0
    train = load_ss_split(out, "rfam_ss/train")
    assert train[:] == {"id": ["RF00001/kept1"], "sequence": ["GGGCAAAAGCCU"],
                        "pairs": [[[0, 11], [1, 10], [2, 9], [3, 8]]], "family": ["RF00001"], "length": [12]}
    assert len(load_ss_split(out, "rfam_ss/valid")) == 0
    entry = json.loads((out / "manifest.json").read_text())["splits"]["rfam_ss/train"]
    assert entry["skipped"] == {"no_consensus_pairs": 0, "empty": 0, "too_long": 2, "identical_sequence": 0,
                                "similar_to_test": 1}
    assert (out / entry["reports"]["families.tsv"]).read_text().startswith("accession\tname\tclan")
    assert "kept 1" in entry["notes"]


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    script = load_script("data_scripts/build_ss_datasets.py")
    assert script.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), "--sources", "squarna"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: missing source file") and error.count("\n") == 1
    assert script.main(["--data-dir", str(tmp_path), "--threads", "0"]) == 2
    assert capsys.readouterr().err == "error: --threads must be at least 1, got 0\n"


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared data directory not present")
def test_real_data_counts_match_readme():
    builds = build_splits(SHARED_DATA)
    failed = [c.name for c in check_counts(builds) if not c.ok]
    assert failed == []
    assert {c.name for c in check_counts(builds)} == set(EXPECTED_COUNTS)
