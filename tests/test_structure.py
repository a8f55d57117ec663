"""Tests for modeling_ssrlm.secondary_structure: dot-bracket, BPSEQ, CT and contact-matrix conversions."""

import io
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_ssrlm.secondary_structure import (
    StructureError,
    StructureWarning,
    _assign_levels,
    base_pair_type,
    check_length,
    format_dot_bracket,
    matrix_to_pairs,
    pairs_to_matrix,
    parse_dot_bracket,
    read_bpseq,
    read_ct,
    to_dot_bracket,
    validate_pairs,
    write_bpseq,
    write_ct,
)

# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------


@st.composite
def structures(draw, max_length=60):
    """A length and a random valid pair set (crossing allowed, one partner per base).

    With at most 30 pairs, page assignment never needs more than the 30 bracket levels.
    """
    length = draw(st.integers(0, max_length))
    order = draw(st.permutations(range(length)))
    n_pairs = draw(st.integers(0, length // 2))
    pairs = sorted(
        (min(order[2 * k], order[2 * k + 1]), max(order[2 * k], order[2 * k + 1])) for k in range(n_pairs)
    )
    return length, pairs


def crosses(a, b):
    (i, j), (k, m) = sorted([a, b])
    return i < k < j < m


def nested_subset(pairs):
    """Keep pairs in order, dropping any that crosses a pair already kept."""
    kept = []
    for pair in pairs:
        if not any(crosses(pair, other) for other in kept):
            kept.append(pair)
    return kept


@st.composite
def sequence_and_structure(draw):
    length, pairs = draw(structures())
    sequence = draw(st.text(alphabet="ACGU", min_size=length, max_size=length))
    return sequence, pairs


# --------------------------------------------------------------------------------------------
# Dot-bracket
# --------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(structures())
def test_dot_bracket_round_trip_with_pseudoknots(structure):
    length, pairs = structure
    dot_bracket = to_dot_bracket(pairs, length)
    assert len(dot_bracket) == length
    assert parse_dot_bracket(dot_bracket) == pairs


@settings(max_examples=100, deadline=None)
@given(structures())
def test_nested_structures_use_round_brackets_only(structure):
    length, pairs = structure
    nested = nested_subset(pairs)
    dot_bracket = to_dot_bracket(nested, length)
    assert set(dot_bracket) <= set("().")
    assert parse_dot_bracket(dot_bracket) == nested


@pytest.mark.parametrize(
    "dot_bracket, pairs",
    [
        ("((..[[..))..]]", [(0, 9), (1, 8), (4, 13), (5, 12)]),
        ("", []),
        ("....", []),
        ("([)]", [(0, 2), (1, 3)]),
        ("A(a)", [(0, 2), (1, 3)]),
        ("<<_..,>>:", [(0, 7), (1, 6)]),  # WUSS (Rfam SS_cons) notation
        ("{.<.}.>", [(0, 4), (2, 6)]),
    ],
)
def test_parse_dot_bracket_hand_cases(dot_bracket, pairs):
    assert parse_dot_bracket(dot_bracket) == pairs


@pytest.mark.parametrize(
    "pairs, length, expected",
    [
        ([(0, 9), (1, 8), (4, 13), (5, 12)], 14, "((..[[..))..]]"),
        # (2, 8) crosses (0, 5) and goes to [], (6, 10) crosses only (2, 8) and goes back to ().
        ([(0, 5), (2, 8), (6, 10)], 11, "(.[..)(.].)"),
        # five mutually crossing pairs use (), [], {}, <> and then the letter pair Aa.
        ([(0, 5), (1, 6), (2, 7), (3, 8), (4, 9)], 10, "([{<A)]}>a"),
        ([(8, 1)], 10, ".(......)."),  # orientation is normalised
        ([], 3, "..."),
    ],
)
def test_to_dot_bracket_hand_cases(pairs, length, expected):
    assert to_dot_bracket(pairs, length) == expected


@pytest.mark.parametrize(
    "dot_bracket, message",
    [
        ("(()", "unclosed opening '(' at position 0"),
        ("..[(.)", "unclosed opening '[' at position 2"),
        ("())", "unmatched closing ')' at position 2"),
        ("(]", "unmatched closing ']' at position 1"),
        ("(.a)", "unmatched closing 'a' at position 2"),
        ("(?)", "unknown character '?' at position 1"),
        ("(( ))", "unknown character ' ' at position 2"),
    ],
)
def test_parse_dot_bracket_errors_name_char_and_position(dot_bracket, message):
    with pytest.raises(StructureError, match=re.escape(message)):
        parse_dot_bracket(dot_bracket)


def test_to_dot_bracket_rejects_multiplets():
    with pytest.raises(StructureError, match="base 2 is in two pairs"):
        to_dot_bracket([(0, 2), (2, 5)], 6)


def test_pairs_beyond_thirty_levels_are_left_out_with_a_warning():
    pairs = [(k, k + 31) for k in range(31)]  # 31 mutually crossing pairs: one level each
    assert parse_dot_bracket(to_dot_bracket(pairs[:30], 62)) == pairs[:30]
    structure, unplaced = format_dot_bracket(pairs, 62)
    assert unplaced == [(30, 61)] and parse_dot_bracket(structure) == pairs[:30]
    with pytest.warns(StructureWarning, match=r"1 pairs, first \(30, 61\), need more than 30 bracket levels"):
        assert to_dot_bracket(pairs, 62) == structure


def random_matching(seed: int, length: int, n_pairs: int) -> list[tuple[int, int]]:
    """``n_pairs`` random pairs (span > 3, one partner per base), like an untrained model's prediction."""
    rng = np.random.default_rng(seed)
    free, pairs = np.ones(length, dtype=bool), []
    while len(pairs) < n_pairs:
        i, j = sorted(int(x) for x in rng.choice(length, 2, replace=False))
        if free[i] and free[j] and j - i > 3:
            free[i] = free[j] = False
            pairs.append((i, j))
    return sorted(pairs)


def test_longest_span_first_fits_what_opening_order_cannot():
    pairs = random_matching(seed=0, length=1000, n_pairs=400)
    _, left_out_by_opening_order = _assign_levels(pairs, 1000)
    assert len(left_out_by_opening_order) > 0  # the case this fallback exists for
    structure, unplaced = format_dot_bracket(pairs, 1000)
    assert unplaced == [] and parse_dot_bracket(structure) == pairs


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(300, 700))
def test_dense_pair_lists_split_into_placed_and_unplaced(seed, n_pairs):
    """Whatever the density, placed + unplaced = input, and no pair was left out needlessly."""
    length = 2 * n_pairs + 100
    pairs = random_matching(seed, length, n_pairs)
    structure, unplaced = format_dot_bracket(pairs, length)
    placed = parse_dot_bracket(structure)
    assert sorted(placed + unplaced) == pairs and not set(placed) & set(unplaced)
    levels = {}
    for i, j in placed:
        levels.setdefault(structure[i], []).append((i, j))
    for pair in unplaced:  # it crosses some placed pair on each of the 30 levels
        assert len(levels) == 30 and all(any(crosses(pair, other) for other in level) for level in levels.values())


def test_structure_error_is_a_value_error():
    assert issubclass(StructureError, ValueError)


def test_check_length():
    check_length("ACGU", "(..)")
    with pytest.raises(StructureError, match="sequence has 4 nucleotides but the structure has 5"):
        check_length("ACGU", "(...)")


# --------------------------------------------------------------------------------------------
# Pair lists and matrices
# --------------------------------------------------------------------------------------------


def test_validate_pairs_normalises_and_sorts():
    pairs = validate_pairs([(5, 1), np.array([0, 7]), [2, 3]], 8)
    assert pairs == [(0, 7), (1, 5), (2, 3)]
    assert all(type(index) is int for pair in pairs for index in pair)


def test_validate_pairs_allows_multiplets_on_request():
    assert validate_pairs([(0, 4), (0, 6)], 8, allow_multiplets=True) == [(0, 4), (0, 6)]
    with pytest.raises(StructureError, match="base 0 is in two pairs, with 4 and 6"):
        validate_pairs([(0, 4), (0, 6)], 8)


def test_validate_pairs_without_length_checks_only_the_lower_bound():
    assert validate_pairs([(3, 1000)], None) == [(3, 1000)]
    with pytest.raises(StructureError, match="index -1 is negative"):
        validate_pairs([(-1, 3)], None)


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([(0, 8)], "index 8 is out of range for length 8"),
        ([(-1, 3)], "index -1 is negative"),
        ([(3, 3)], "base 3 is paired with itself"),
        ([(1, 4), (4, 1)], "pair (1, 4) is listed more than once"),
        ([(1, 2, 3)], "exactly two indices"),
        ([5], "exactly two indices"),
        ([(1.0, 4)], "must be integers"),
        ([(True, 4)], "must be integers"),
    ],
)
def test_validate_pairs_errors(pairs, message):
    with pytest.raises(StructureError, match=re.escape(message)):
        validate_pairs(pairs, 8, allow_multiplets=True)


def test_pairs_to_matrix_is_symmetric_float32():
    matrix = pairs_to_matrix([(0, 3), (1, 2), (1, 3)], 4)  # multiplets allowed here
    expected = np.array([[0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 0, 0], [1, 1, 0, 0]], dtype=np.float32)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, expected)
    assert pairs_to_matrix([], 0).shape == (0, 0)


@settings(max_examples=50, deadline=None)
@given(structures())
def test_matrix_round_trip(structure):
    length, pairs = structure
    matrix = pairs_to_matrix(pairs, length)
    np.testing.assert_array_equal(matrix, matrix.T)
    assert matrix_to_pairs(matrix) == pairs


def test_matrix_to_pairs_threshold_is_strict_and_reads_upper_triangle():
    matrix = np.array([[0.9, 0.5, 0.7], [0.9, 0.0, 0.51], [0.9, 0.0, 0.0]])
    assert matrix_to_pairs(matrix) == [(0, 2), (1, 2)]  # 0.5 is not above 0.5; diagonal, lower ignored
    assert matrix_to_pairs(matrix, threshold=0.6) == [(0, 2)]
    with pytest.raises(StructureError, match=r"must be square, got shape \(2, 3\)"):
        matrix_to_pairs(np.zeros((2, 3)))


# --------------------------------------------------------------------------------------------
# BPSEQ and CT
# --------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(sequence_and_structure())
def test_bpseq_round_trip(tmp_path_factory, record):
    sequence, pairs = record
    if not sequence:
        return  # a BPSEQ file cannot hold an empty sequence
    path = tmp_path_factory.mktemp("bpseq") / "x.bpseq"
    write_bpseq(path, sequence, pairs)
    assert read_bpseq(path) == (sequence, pairs)
    assert read_bpseq(str(path)) == (sequence, pairs)


@settings(max_examples=50, deadline=None)
@given(sequence_and_structure(), st.text(alphabet="abc =-.0123", max_size=20))
def test_ct_round_trip(tmp_path_factory, record, title):
    sequence, pairs = record
    if not sequence:
        return  # a CT file cannot hold an empty sequence
    path = tmp_path_factory.mktemp("ct") / "x.ct"
    write_ct(path, sequence, pairs, title=title)
    assert read_ct(path) == (sequence, pairs)


def test_write_formats_exactly(tmp_path):
    write_bpseq(tmp_path / "a.bpseq", "GAC", [(0, 2)])
    assert (tmp_path / "a.bpseq").read_text() == "1 G 3\n2 A 0\n3 C 1\n"
    handle = io.StringIO()
    write_ct(handle, "GAC", [(0, 2)], title="toy")
    assert handle.getvalue() == "3\ttoy\n1\tG\t0\t2\t3\t1\n2\tA\t1\t3\t0\t2\n3\tC\t2\t0\t1\t3\n"


def test_writers_reject_multiplets_and_bad_titles(tmp_path):
    with pytest.raises(StructureError, match="base 0 is in two pairs"):
        write_bpseq(tmp_path / "a.bpseq", "GACU", [(0, 2), (0, 3)])
    with pytest.raises(StructureError, match="index 4 is out of range for length 4"):
        write_ct(tmp_path / "a.ct", "GACU", [(0, 4)])
    with pytest.raises(StructureError, match="single line"):
        write_ct(tmp_path / "a.ct", "GACU", [], title="a\nb")


BPRNA_STYLE_BPSEQ = """#Name: bpRNA_toy
#Length:  6
#PageNumber: 1
1 G 6
2 G 5
3 A 0

4 A 0
5 C 2
6 C 1
"""


def test_read_bpseq_skips_comments_and_blank_lines():
    assert read_bpseq(io.StringIO(BPRNA_STYLE_BPSEQ)) == ("GGAACC", [(0, 5), (1, 4)])


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 G 3\n3 A 0\n3 C 1\n", "BPSEQ line 2: expected base index 2, got 3"),
        ("1 G 3\n2 A 0\n3 C 2\n", "BPSEQ line 1: base 1 pairs with 3, but base 3 pairs with 2"),
        ("1 G 4\n2 A 0\n3 C 0\n", "BPSEQ line 1: base 1 has invalid partner 4"),
        ("1 G 1\n", "BPSEQ line 1: base 1 has invalid partner 1"),
        ("1 G x\n", "BPSEQ line 1: index and partner must be integers"),
        ("1 G\n", "BPSEQ line 1: expected at least 3 columns"),
        ("#only a comment\n", "BPSEQ file holds no bases"),
    ],
)
def test_read_bpseq_errors(text, message):
    with pytest.raises(StructureError, match=re.escape(message)):
        read_bpseq(io.StringIO(text))


# Header styles seen in real files: ArchiveII (tab-separated, "N<TAB>name") and RNAstructure
# ("  N  ENERGY = ...  name", space-aligned). The second structure must be ignored.
ARCHIVE_II_STYLE_CT = (
    "5\tRNA\n1\tG\t0\t2\t5\t1\n2\tA\t1\t3\t0\t2\n3\tA\t2\t4\t0\t3\n4\tA\t3\t5\t0\t4\n5\tC\t4\t6\t1\t5\n"
)
RNASTRUCTURE_STYLE_CT = """    6  ENERGY = -1.3    toy
    1 G       0    2    6    1
    2 G       1    3    5    2
    3 A       2    4    0    3
    4 A       3    5    0    4
    5 C       4    6    2    5
    6 U       5    0    1    6
    6  ENERGY = -0.2    toy
    1 G       0    2    0    1
    2 G       1    3    0    2
    3 A       2    4    0    3
    4 A       3    5    0    4
    5 C       4    6    0    5
    6 U       5    0    0    6
"""


def test_read_ct_header_styles_and_first_structure_only():
    assert read_ct(io.StringIO(ARCHIVE_II_STYLE_CT)) == ("GAAAC", [(0, 4)])
    assert read_ct(io.StringIO(RNASTRUCTURE_STYLE_CT)) == ("GGAACU", [(0, 5), (1, 4)])


def test_read_ct_accepts_binary_file_objects_and_leaves_them_open():
    handle = io.BytesIO(ARCHIVE_II_STYLE_CT.encode())  # as tarfile.extractfile() returns
    assert read_ct(handle) == ("GAAAC", [(0, 4)])
    assert not handle.closed


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "CT line 0: header must start with the number of bases"),
        ("RNA 5\n", "CT line 1: header must start with the number of bases"),
        ("0 empty\n", "CT line 1: header announces 0 bases"),
        ("3 x\n1 G 0 2 3 1\n2 A 1 3 0 2\n", "CT header announces 3 bases but the file holds 2"),
        ("2 x\n1 G 0 2 0 1\n2 C 1 0 2 2\n", "CT line 3: base 2 has invalid partner 2"),
        ("2 x\n1 G 0 2 2 1\n3 C 1 0 1 2\n", "CT line 3: expected base index 2, got 3"),
        ("1 x\n1 G 0 2\n", "CT line 2: expected at least 5 columns"),
    ],
)
def test_read_ct_errors(text, message):
    with pytest.raises(StructureError, match=re.escape(message)):
        read_ct(io.StringIO(text))


# --------------------------------------------------------------------------------------------
# Base-pair types
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first, second, kind",
    [
        ("A", "U", "watson_crick"),
        ("u", "a", "watson_crick"),
        ("G", "C", "watson_crick"),
        ("C", "G", "watson_crick"),
        ("A", "T", "watson_crick"),
        ("G", "U", "wobble"),
        ("T", "g", "wobble"),
        ("G", "A", "noncanonical"),
        ("N", "N", "noncanonical"),
        ("G", "N", "noncanonical"),
        ("P", "A", "noncanonical"),
    ],
)
def test_base_pair_type(first, second, kind):
    assert base_pair_type(first, second) == kind


@pytest.mark.parametrize("reader", [read_bpseq, read_ct])
def test_non_utf8_files_raise_structure_error(tmp_path, reader):
    path = tmp_path / "binary"
    path.write_bytes(b"3 title\n1 A 0\n2 \xff 0\n")
    with pytest.raises(StructureError, match="not UTF-8 text"):
        reader(path)
    with pytest.raises(StructureError, match="not UTF-8 text"):
        reader(io.BytesIO(path.read_bytes()))
