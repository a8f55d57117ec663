"""Tests for modeling_ssrlm.evaluation.metrics and the offline `evaluate` module metrics/rna_ss_pairs."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from modeling_ssrlm.evaluation.metrics import auprc, pair_scores, pair_type, pooled_scores, score_structures
from modeling_ssrlm.secondary_structure import StructureError

REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------
# pair_scores
# --------------------------------------------------------------------------------------------


def test_pair_scores_hand_case():
    scores = pair_scores([(0, 9), (1, 8), (2, 7)], [(0, 9), (1, 8), (3, 6)])
    assert scores == pytest.approx(
        {
            "precision": 2 / 3,
            "recall": 2 / 3,
            "f1": 2 / 3,
            "tp": 2,
            "fp": 1,
            "fn": 1,
            "n_pred": 3,
            "n_true": 3,
        }
    )
    assert isinstance(scores["tp"], int) and isinstance(scores["f1"], float)


def test_shift_tolerance_moves_one_end_only():
    assert pair_scores([(1, 9)], [(0, 9)])["f1"] == 0.0
    assert pair_scores([(1, 9)], [(0, 9)], shift=1)["f1"] == 1.0
    assert pair_scores([(0, 8)], [(0, 9)], shift=1)["f1"] == 1.0
    assert pair_scores([(1, 10)], [(0, 9)], shift=1)["f1"] == 0.0  # both ends moved
    assert pair_scores([(2, 9)], [(0, 9)], shift=1)["f1"] == 0.0  # moved by 2
    assert pair_scores([(2, 9)], [(0, 9)], shift=2)["f1"] == 1.0


def test_shift_counts_predictions_and_true_pairs_separately():
    # Both predictions sit next to (10, 20), so precision is 2/2; (30, 40) is missed, recall 1/2.
    scores = pair_scores([(11, 20), (10, 21)], [(10, 20), (30, 40)], shift=1)
    assert scores == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "tp": 2, "fp": 0, "fn": 1, "n_pred": 2, "n_true": 2}
    )


@pytest.mark.parametrize(
    "pred, true, expected",
    [
        ([], [], (1.0, 1.0, 1.0)),
        ([], [(0, 5)], (0.0, 0.0, 0.0)),
        ([(0, 5)], [], (0.0, 0.0, 0.0)),
        ([(0, 5)], [(1, 6)], (0.0, 0.0, 0.0)),
    ],
)
def test_empty_set_conventions(pred, true, expected):
    scores = pair_scores(pred, true)
    assert (scores["precision"], scores["recall"], scores["f1"]) == expected


def test_pair_scores_normalises_orientation_and_allows_multiplets():
    assert pair_scores([(9, 0)], [[0, 9]])["f1"] == 1.0
    assert pair_scores([(0, 9), (0, 8)], [(0, 9)])["precision"] == 0.5


def test_pair_scores_rejects_bad_input():
    with pytest.raises(StructureError, match=re.escape("pair (0, 9) is listed more than once")):
        pair_scores([(0, 9), (9, 0)], [])
    with pytest.raises(ValueError, match="shift must be >= 0"):
        pair_scores([], [], shift=-1)


def test_pooled_scores_sum_counts():
    per_sequence = [
        pair_scores([(0, 9)], [(0, 9)]),
        pair_scores([(0, 29), (10, 20)], [(0, 29), (1, 28), (2, 27)]),
    ]
    # tp = 2, n_pred = 3, n_true = 4
    assert pooled_scores(per_sequence) == pytest.approx({"precision": 2 / 3, "recall": 1 / 2, "f1": 4 / 7})
    assert pooled_scores([pair_scores([], [])]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


# --------------------------------------------------------------------------------------------
# auprc and pair_type
# --------------------------------------------------------------------------------------------


def tiny_probs():
    """4 x 4 scores; the lower triangle holds decoys that must not be read."""
    upper = {(0, 1): 0.8, (0, 2): 0.3, (0, 3): 0.9, (1, 2): 0.7, (1, 3): 0.2, (2, 3): 0.1}
    probs = np.ones((4, 4))
    for (i, j), p in upper.items():
        probs[i, j] = p
    return probs


def test_auprc_hand_value():
    # Ranking: (0,3)+ 0.9, (0,1)- 0.8, (1,2)+ 0.7, ... -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    assert auprc(tiny_probs(), [(0, 3), (1, 2)]) == pytest.approx(5 / 6)


def test_auprc_min_separation_drops_short_pairs():
    # Only (0,2), (0,3), (1,3) are scored; (1,2) is not counted as missed. (0,3) ranks first.
    assert auprc(tiny_probs(), [(0, 3), (1, 2)], min_separation=2) == pytest.approx(1.0)


def test_auprc_is_nan_without_true_pairs():
    assert math.isnan(auprc(tiny_probs(), []))
    assert math.isnan(auprc(tiny_probs(), [(1, 2)], min_separation=2))
    with pytest.raises(ValueError, match="square"):
        auprc(np.zeros((3, 4)), [(0, 2)])


@pytest.mark.parametrize(
    "i, j, kind",
    [
        (0, 3, "wobble"),  # G-U
        (1, 3, "watson_crick"),  # A-U
        (2, 0, "watson_crick"),  # C-G, either order
        (4, 0, "noncanonical"),  # N-G
        (1, 2, "noncanonical"),  # A-C
        (5, 0, "wobble"),  # T read as U
        (5, 1, "watson_crick"),  # T-A
    ],
)
def test_pair_type(i, j, kind):
    assert pair_type("GACUNT", i, j) == kind


# --------------------------------------------------------------------------------------------
# score_structures
# --------------------------------------------------------------------------------------------

# Sequence A (10 nt): (0, 9) is G-C. Sequence B (30 nt): G at 0-3, A at 4-25, U at 26, C at 27-29,
# so (0, 29), (1, 28), (2, 27) are Watson-Crick, (3, 26) is a GU wobble and (10, 20) is A-A.
SEQUENCES = ["GAAAAAAAAC", "GGGG" + "A" * 22 + "UCCC"]
PREDS = [[(0, 9)], [(0, 29), (10, 20)]]
TRUES = [[(0, 9)], [(0, 29), (1, 28), (2, 27), (3, 26)]]


def test_score_structures_mean_vs_pooled():
    result = score_structures(SEQUENCES, PREDS, TRUES)
    # A: P = R = F1 = 1. B: P = 1/2, R = 1/4, F1 = 1/3.
    assert result["n_sequences"] == 2
    assert result["precision"] == pytest.approx(3 / 4)
    assert result["recall"] == pytest.approx(5 / 8)
    assert result["f1"] == pytest.approx(2 / 3)
    # Pooled: tp = 2, n_pred = 3, n_true = 5 -> P = 2/3, R = 2/5, F1 = 1/2.
    assert result["pooled_precision"] == pytest.approx(2 / 3)
    assert result["pooled_recall"] == pytest.approx(2 / 5)
    assert result["pooled_f1"] == pytest.approx(1 / 2)
    # No prediction is one step off a true pair, so the shift-tolerant scores are the same here.
    assert result["f1_shift1"] == pytest.approx(2 / 3)
    assert result["pooled_f1_shift1"] == pytest.approx(1 / 2)
    assert "auprc" not in result


def test_score_structures_by_pair_type():
    result = score_structures(SEQUENCES, PREDS, TRUES)
    # Watson-Crick: A F1 = 1; B pred {(0,29)} vs true {(0,29),(1,28),(2,27)} -> F1 = 1/2.
    assert (result["f1_watson_crick"], result["n_watson_crick"]) == (pytest.approx(3 / 4), 2)
    # Wobble: only in B's truth, not predicted -> F1 = 0; A has none and is left out.
    assert (result["f1_wobble"], result["n_wobble"]) == (0.0, 1)
    # Non-canonical: only B's prediction (10, 20) -> F1 = 0.
    assert (result["f1_noncanonical"], result["n_noncanonical"]) == (0.0, 1)


def test_score_structures_by_length_bin():
    default = score_structures(SEQUENCES, PREDS, TRUES)
    assert (default["f1_len_0_50"], default["n_len_0_50"]) == (pytest.approx(2 / 3), 2)
    assert (default["f1_len_1000_inf"], default["n_len_1000_inf"]) == (None, 0)
    custom = score_structures(SEQUENCES, PREDS, TRUES, length_bins=(0, 20, 40))
    assert (custom["f1_len_0_20"], custom["n_len_0_20"]) == (1.0, 1)
    assert (custom["f1_len_20_40"], custom["n_len_20_40"]) == (pytest.approx(1 / 3), 1)
    assert "f1_len_0_50" not in custom


def test_score_structures_shift_and_auprc():
    sequences = ["GGCC", "GGGAAACCCU"]
    probs = [tiny_probs(), np.zeros((10, 10))]
    result = score_structures(sequences, [[], [(1, 9)]], [[(0, 3), (1, 2)], []], probs=probs)
    # sequence 1: nothing predicted (F1 0); sequence 2: a prediction against an empty truth (F1 0).
    assert (result["f1"], result["f1_shift1"]) == (0.0, 0.0)
    assert (result["auprc"], result["auprc_n"], result["auprc_n_nan"]) == (pytest.approx(5 / 6), 1, 1)
    shifted = score_structures(["GGGAAACCCU"], [[(1, 9)]], [[(0, 9)]])
    assert (shifted["f1"], shifted["f1_shift1"], shifted["pooled_f1_shift1"]) == (0.0, 1.0, 1.0)


def test_score_structures_is_json_serialisable():
    result = score_structures(SEQUENCES, PREDS, TRUES, probs=[np.zeros((10, 10)), np.zeros((30, 30))])
    assert json.loads(json.dumps(result, allow_nan=False)) == result


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"preds": PREDS[:1]}, ValueError, "inputs must have equal lengths"),
        ({"sequences": [], "preds": [], "trues": []}, ValueError, "no sequences to score"),
        ({"length_bins": (0, 50, 50)}, ValueError, "strictly increasing"),
        ({"length_bins": (0,)}, ValueError, "at least two"),
        (
            {"probs": [np.zeros((10, 10)), np.zeros((10, 10))]},
            ValueError,
            r"probs\[1\] has shape \(10, 10\), expected \(30, 30\)",
        ),
        ({"preds": [[(0, 10)], []]}, StructureError, "index 10 is out of range for length 10"),
    ],
)
def test_score_structures_rejects_bad_input(kwargs, error, message):
    arguments = {"sequences": SEQUENCES, "preds": PREDS, "trues": TRUES, **kwargs}
    with pytest.raises(error, match=message):
        score_structures(**arguments)


# --------------------------------------------------------------------------------------------
# evaluate module
# --------------------------------------------------------------------------------------------


def test_evaluate_metric_loads_offline(monkeypatch, tmp_path):
    evaluate = pytest.importorskip("evaluate")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = evaluate.load(str(REPO_ROOT / "metrics" / "rna_ss_pairs"), cache_dir=str(tmp_path))
    predictions = [[[0, 9], [1, 8], [2, 7]], [[1, 9]], []]
    references = [[[0, 9], [1, 8], [3, 6]], [[0, 9]], []]
    # Per sequence (strict): 2/3, 0, 1 (both empty) -> mean 5/9; with shift=1 the second is 1 -> 8/9.
    strict = metric.compute(predictions=predictions, references=references)
    assert strict == pytest.approx({"precision": 5 / 9, "recall": 5 / 9, "f1": 5 / 9})
    shifted = metric.compute(predictions=predictions, references=references, shift=1)
    assert shifted == pytest.approx({"precision": 8 / 9, "recall": 8 / 9, "f1": 8 / 9})
