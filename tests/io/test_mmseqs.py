"""MMseqs2 wrapper: clustering and similarity search on planted sequences."""

from __future__ import annotations

import random

import pytest

from modeling_ssrlm.io.mmseqs import MMseqsError, cluster, find_mmseqs_binary, similar_to

_rng = random.Random(7)


def random_dna(length: int) -> str:
    return "".join(_rng.choice("ACGT") for _ in range(length))


def mutate(sequence: str, positions: list[int]) -> str:
    swap = {"A": "C", "C": "G", "G": "T", "T": "A"}
    return "".join(swap[base] if index in positions else base for index, base in enumerate(sequence))


BASE = random_dna(100)
NEAR = mutate(BASE, [20, 60])  # 98 % identical
OTHER = random_dna(100)
SHORT = random_dna(12)


def test_binary_is_found():
    assert find_mmseqs_binary().endswith("mmseqs")


def test_missing_override_binary_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("MMSEQS2_PATH", "/nonexistent/mmseqs")
    with pytest.raises(MMseqsError, match="MMSEQS2_PATH='/nonexistent/mmseqs' is not an executable"):
        find_mmseqs_binary()


def test_cluster_groups_near_identical_and_keeps_random_apart():
    # Ids with spaces and shared first words must survive the round trip through MMseqs2.
    records = {"base one": BASE, "near one": NEAR, "other": OTHER, "short a": SHORT, "short b": SHORT}
    mapping = cluster(records, min_seq_id=0.8, coverage=0.8)
    assert set(mapping) == set(records)
    assert mapping["base one"] == mapping["near one"] in {"base one", "near one"}
    assert mapping["other"] == "other"
    assert mapping["short a"] == mapping["short b"]  # identical sequences always cluster
    assert sum(member == rep for member, rep in mapping.items()) == 3


def test_cluster_respects_the_identity_threshold():
    mapping = cluster({"base": BASE, "near": NEAR}, min_seq_id=0.99)
    assert mapping == {"base": "base", "near": "near"}


def test_similar_to_reports_best_target_and_identity():
    targets = {"t_other": OTHER, "t_near": NEAR, "t_short": SHORT}
    queries = {
        "q_base": BASE,
        "q_random": random_dna(100),
        "q_short": SHORT,
        "q_revcomp": BASE[::-1].translate(str.maketrans("ACGT", "TGCA")),
    }
    hits = similar_to(queries, targets, min_seq_id=0.8)
    assert hits == {"q_base": ("t_near", 0.98), "q_short": ("t_short", 1.0)}


def test_similar_to_prefers_exact_copy_and_first_listed_target():
    hits = similar_to({"q": BASE}, {"a": NEAR, "b": BASE, "c": BASE})
    assert hits == {"q": ("b", 1.0)}


def test_empty_inputs_do_not_run_mmseqs(monkeypatch):
    monkeypatch.setenv("MMSEQS2_PATH", "/nonexistent/mmseqs")
    assert cluster({}) == {}
    assert similar_to({}, {"t": BASE}) == {}
    assert similar_to({"q": BASE}, {}) == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_seq_id": 1.5}, r"min_seq_id must be in \[0, 1\], got 1.5"),
        ({"coverage": -0.1}, r"coverage must be in \[0, 1\], got -0.1"),
        ({"threads": 0}, "threads must be at least 1, got 0"),
        ({"cov_mode": 3}, "cov_mode must be 0"),
    ],
)
def test_invalid_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cluster({"a": BASE}, **kwargs)


def test_empty_sequence_is_rejected():
    with pytest.raises(ValueError, match="cluster record 'b' has an empty sequence"):
        cluster({"a": BASE, "b": ""})
