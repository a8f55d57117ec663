"""Rfam consensus-structure projection, filtering and the family-disjoint split (modeling_ssrlm.data.rfam).

Every alignment is hand-made, so the projected pairs, drops and counts are known by hand.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from modeling_ssrlm.data.rfam import (
    RfamOptions,
    build_rfam_splits,
    holdout_unit,
    is_valid_unit,
    project_alignment,
    read_rfam_seed,
)
from modeling_ssrlm.data.ss_datasets import SSDataError, SSRecord
from modeling_ssrlm.io.sequences import read_stockholm_alignments

# Columns 0-9; SS_cons pairs (0, 6) and (1, 5) with angle brackets, (2, 7) a pseudoknot letter pair
# crossing (1, 5). Blocks are interleaved. m1 keeps every pair; m2 has a gap in column 2 (so (2, 7)
# is dropped for a gap), '.' as a gap, lower case t (-> U) and a G-U wobble; m3 has A-C in (0, 6)
# (dropped as non-canonical), T (-> U) pairing with G, R (-> N) and the gaps '~' and '-'.
TOY = """# STOCKHOLM 1.0
#=GF AC   RF90001
#=GF ID   toy
m1      GGCAA
m2      GG-AA
m3      AGTR~
#=GC SS_cons <<A..

m1      CCGAA
m2      UCGt.
m3      CCGA-
#=GC SS_cons >>a..
//
"""


def write_sto(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def family(accession: str, rows: dict[str, str], ss_cons: str, clan: str = "") -> str:
    """Stockholm text of one family (one block)."""
    lines = ["# STOCKHOLM 1.0", f"#=GF AC   {accession}", f"#=GF ID   {accession.lower()}"]
    lines += [f"#=GF CL   {clan}"] if clan else []
    lines += [f"{name} {row}" for name, row in rows.items()] + [f"#=GC SS_cons {ss_cons}", "//"]
    return "\n".join(lines) + "\n"


def hairpin_family(accession: str, sequences: dict[str, str], clan: str = "") -> str:
    """A family of equal-length, ungapped members whose SS_cons pairs the outer 4 columns (a stem)."""
    length = len(next(iter(sequences.values())))
    return family(accession, sequences, "<<<<" + "." * (length - 8) + ">>>>", clan)


# --------------------------------------------------------------------------- projection


def test_projection_maps_columns_to_positions_and_drops_gaps_and_noncanonical(tmp_path):
    (alignment,) = read_stockholm_alignments(write_sto(tmp_path / "toy.sto", TOY))
    records, counts = project_alignment(alignment)
    assert records == [
        SSRecord("RF90001/m1", "GGCAACCGAA", ((0, 6), (1, 5), (2, 7)), "RF90001"),
        SSRecord("RF90001/m2", "GGAAUCGU", ((0, 5), (1, 4)), "RF90001"),
        SSRecord("RF90001/m3", "AGUNCCGA", ((1, 4), (2, 6)), "RF90001"),
    ]
    assert (counts.accession, counts.name, counts.clan, counts.members, counts.consensus_pairs) == (
        "RF90001", "toy", "", 3, 3)
    assert (counts.pairs_projected, counts.dropped_gap, counts.dropped_noncanonical) == (7, 1, 1)


def test_projection_rejects_row_length_mismatch_and_missing_ss_cons(tmp_path):
    short_row = family("RF90002", {"a": "GGAACC", "b": "GGAAC"}, "<<..>>")
    with pytest.raises(SSDataError, match=r"RF90002: row 'b' has 5 columns but SS_cons has 6"):
        list(read_rfam_seed(write_sto(tmp_path / "a.sto", short_row)))
    no_structure = "# STOCKHOLM 1.0\n#=GF AC   RF90003\na GGAACC\n//\n"
    with pytest.raises(SSDataError, match=r"RF90003: the alignment has no '#=GC SS_cons' line"):
        list(read_rfam_seed(write_sto(tmp_path / "b.sto", no_structure)))
    unbalanced = family("RF90004", {"a": "GGAACC"}, "<<..>.")
    with pytest.raises(SSDataError, match=r"RF90004: SS_cons: unclosed opening '<' at position 0"):
        list(read_rfam_seed(write_sto(tmp_path / "c.sto", unbalanced)))


# --------------------------------------------------------------------------- filters


def no_hits(queries, targets, min_seq_id, threads):
    return {}


def test_filters_drop_unstructured_families_long_members_and_later_duplicates(tmp_path):
    text = (
        family("RF00010", {"a": "GGGGAAAA----CCCC", "b": "GGGGAAAAA---CCCC", "long": "GGGGAAAAAAAACCCC"},
               "<<<<........>>>>")
        + family("RF00011", {"plain": "ACGUACGU"}, "........")
        + hairpin_family("RF00012", {"copy": "GGGGAAAACCCC", "c": "GGGCAAAAGCCC"})
    )
    options = RfamOptions(max_length=14, valid_fraction=0.0)
    train, valid = build_rfam_splits(write_sto(tmp_path / "f.sto", text), {"t": "A"}, options, similar=no_hits)
    assert [r.id for r in train.records] == ["RF00010/a", "RF00010/b", "RF00012/c"]
    assert train.records[2].pairs == ((0, 11), (1, 10), (2, 9), (3, 8))  # G-C, G-C, G-C, C-G
    assert train.skipped == {
        "no_consensus_pairs": 1, "empty": 0, "too_long": 1, "identical_sequence": 1, "similar_to_test": 0}
    assert train.source_count == 6 == len(train.records) + sum(train.skipped.values())
    assert (valid.records, valid.source_count) == ([], 0)
    families = train.reports["families.tsv"].splitlines()
    assert families[0].split("\t")[:5] == ["accession", "name", "clan", "members", "kept"]
    assert families[1].split("\t") == ["RF00010", "rf00010", "", "3", "2", "4", "12", "0", "0"]
    assert families[2].split("\t")[3:6] == ["1", "0", "0"]


def test_members_similar_to_a_test_sequence_are_excluded_with_mmseqs(tmp_path):
    rng = random.Random(5)
    loop = "".join(rng.choice("ACGU") for _ in range(52))
    kept = "GGGG" + "".join(rng.choice("ACGU") for _ in range(52)) + "CCCC"
    near = "GGGG" + loop + "CCCC"
    test_sequence = near[:20] + ("A" if near[20] != "A" else "C") + near[21:]  # 59 / 60 identical
    identical = "GCGC" + "".join(rng.choice("ACGU") for _ in range(52)) + "GCGC"
    text = hairpin_family("RF00020", {"kept": kept, "near": near, "same": identical})
    references = {"bprna/TS0:x": test_sequence, "spot_rna_pdb/TS1:y": identical}
    train, _ = build_rfam_splits(write_sto(tmp_path / "f.sto", text), references, RfamOptions(valid_fraction=0.0))
    assert [r.id for r in train.records] == ["RF00020/kept"]
    assert train.skipped["similar_to_test"] == 2
    excluded = [line.split("\t") for line in train.reports["excluded.tsv"].splitlines()]
    assert excluded[0] == ["id", "test_sequence", "identity"]
    assert [row[:2] for row in excluded[1:]] == [
        ["RF00020/near", "bprna/TS0:x"], ["RF00020/same", "spot_rna_pdb/TS1:y"]]
    assert float(excluded[1][2]) == pytest.approx(59 / 60, abs=0.01) and excluded[2][2] == "1.000"


# --------------------------------------------------------------------------- family-disjoint valid split


def test_is_valid_unit_is_deterministic_and_near_the_fraction():
    units = [f"RF{index:05d}" for index in range(20000)]
    chosen = [unit for unit in units if is_valid_unit(unit, 0.03)]
    assert chosen == [unit for unit in units if is_valid_unit(unit, 0.03)]
    assert 0.025 < len(chosen) / len(units) < 0.035
    assert not any(is_valid_unit(unit, 0.0) for unit in units[:100])


def test_valid_split_holds_out_whole_families_and_clans(tmp_path):
    # 30 families of 3 distinct members (the A run is the family index); the first 4 share a clan.
    text = "".join(
        family(
            f"RF{index:05d}",
            {f"s{k}": "GGGG" + "A" * index + "U" * k + "-" * (2 - k) + "CCCC" for k in range(3)},
            "<<<<" + "." * (index + 2) + ">>>>",
            clan="CL00001" if index < 4 else "",
        )
        for index in range(30)
    )
    train, valid = build_rfam_splits(
        write_sto(tmp_path / "f.sto", text), {}, RfamOptions(valid_fraction=0.5), similar=no_hits)
    train_families = {r.family for r in train.records}
    valid_families = {r.family for r in valid.records}
    assert train_families and valid_families and not train_families & valid_families
    assert len(train_families | valid_families) == 30
    for split in (train, valid):
        assert all(sum(r.family == f for r in split.records) == 3 for f in {r.family for r in split.records})
    clan = {f"RF{index:05d}" for index in range(4)}
    assert clan <= train_families or clan <= valid_families
    expected_valid = {f"RF{i:05d}" for i in range(30) if is_valid_unit("CL00001" if i < 4 else f"RF{i:05d}", 0.5)}
    assert valid_families == expected_valid
    assert (train.role, valid.role) == ("train", "valid")


def test_holdout_unit_is_clan_else_family(tmp_path):
    text = family("RF00030", {"a": "GGAACC"}, "<<..>>", clan="CL00009") + family("RF00031", {"a": "GCAAGC"}, "<<..>>")
    units = [holdout_unit(counts) for _, counts in read_rfam_seed(write_sto(tmp_path / "f.sto", text))]
    assert units == ["CL00009", "RF00031"]
