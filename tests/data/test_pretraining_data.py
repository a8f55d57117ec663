"""Tests for modeling_ssrlm.data.corpus: loading corpus shards and the 1:1 ncRNA mixture."""

from __future__ import annotations

import logging

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeling_ssrlm.data.corpus import CORPUS_COLUMNS, load_pretraining_corpus, mix_ncrna


def corpus_rows(ncrna: int, other: int) -> list[dict]:
    rows = [
        {"id": f"nc{i}", "sequence": "GGGAAACCC", "structure": "(((...)))", "is_ncrna": True, "source": "rfam"}
        for i in range(ncrna)
    ]
    rows += [
        {"id": f"cds{i}", "sequence": "AUGGCUUAA", "structure": "", "is_ncrna": False, "source": "cds"}
        for i in range(other)
    ]
    return rows


def test_mix_alternates_exactly_at_one_to_one():
    # Interleaved rows: 3 ncRNA among 8 others, so ncRNA repeats until the others are used up.
    mixed = mix_ncrna(datasets.Dataset.from_list(corpus_rows(3, 8)))
    flags = mixed["is_ncrna"]
    assert len(mixed) == 16
    for k in (1, 2, 3):
        for start in range(len(flags) - 2 * k + 1):
            assert sum(flags[start : start + 2 * k]) == k
    assert mixed["id"][::2] == ["nc0", "nc1", "nc2"] * 2 + ["nc0", "nc1"]
    assert mixed["id"][1::2] == [f"cds{i}" for i in range(8)]


def test_mix_with_another_fraction_draws_rows_at_that_rate():
    mixed = mix_ncrna(datasets.Dataset.from_list(corpus_rows(50, 50)), ncrna_fraction=0.25, seed=1)
    flags = mixed["is_ncrna"]
    assert 0.18 < sum(flags) / len(flags) < 0.32
    assert set(mixed["id"]) == {row["id"] for row in corpus_rows(50, 50)}  # every row used


def test_mix_returns_the_only_subset_with_a_warning(caplog):
    only_ncrna = datasets.Dataset.from_list(corpus_rows(4, 0))
    with caplog.at_level(logging.WARNING, logger="modeling_ssrlm.data.corpus"):
        assert mix_ncrna(only_ncrna)["id"] == only_ncrna["id"]
    assert "no non-ncRNA rows" in caplog.text


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5])
def test_mix_rejects_fractions_outside_the_open_interval(fraction):
    with pytest.raises(ValueError, match="ncrna_fraction"):
        mix_ncrna(datasets.Dataset.from_list(corpus_rows(2, 2)), ncrna_fraction=fraction)


def test_load_reads_all_shards_in_path_order(tmp_path):
    rows = corpus_rows(2, 3)
    (tmp_path / "corpus" / "part1").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows[3:]), tmp_path / "corpus" / "part1" / "shard-00000.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:3]), tmp_path / "corpus" / "shard-00000.parquet")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "corpus" / ".shard-00001.parquet")  # in progress
    corpus = load_pretraining_corpus(tmp_path / "corpus", cache_dir=str(tmp_path / "cache"))
    assert corpus["id"] == ["cds1", "cds2", "nc0", "nc1", "cds0"]
    assert set(CORPUS_COLUMNS) <= set(corpus.column_names)


def test_load_reads_the_shards_of_a_prepare_pretraining_folder(tmp_path):
    """The output folder holds plan.parquet (other columns) beside train/: only train/ is data."""
    rows = corpus_rows(1, 1)
    (tmp_path / "out" / "train").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "out" / "train" / "shard-00000.parquet")
    pq.write_table(pa.table({"plan_order": [0, 1]}), tmp_path / "out" / "plan.parquet")
    corpus = load_pretraining_corpus(tmp_path / "out", cache_dir=str(tmp_path / "cache"))
    assert sorted(corpus["id"]) == ["cds0", "nc0"]


def test_load_rejects_missing_shards_and_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretraining_corpus(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="no parquet shards"):
        load_pretraining_corpus(tmp_path)
    pq.write_table(pa.Table.from_pylist([{"id": "x", "sequence": "ACGU"}]), tmp_path / "shard.parquet")
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['structure', 'is_ncrna', 'source'\]"):
        load_pretraining_corpus(tmp_path, cache_dir=str(tmp_path / "cache"))
