"""Probes of the masking ablation (:mod:`modeling_ssrlm.evaluation.probes`) and its statistics
(:mod:`modeling_ssrlm.evaluation.comparison`), on fixtures small enough to compute by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from modeling_ssrlm import SSRLMConfig, SSRLMForMaskedLM
from modeling_ssrlm.evaluation.comparison import UnitScores, aligned, mean_sd, paired_bootstrap, sign_flip_test
from modeling_ssrlm.evaluation.metrics import pair_scores, precision_at_l
from modeling_ssrlm.evaluation.probes import (
    contact_probe,
    heldout_masked_lm_loss,
    helix_strands,
    pair_probe_scores,
    partner_swap,
    span_recovery,
    span_recovery_instances,
    unpaired_windows,
)
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction
from modeling_ssrlm.tokenization_ssrlm import VOCAB

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)

# Two hairpins, Watson–Crick stems only, loops of C (so a model that answers A in loops scores 0 there).
#   GCAG CCCC CUGC        stem 0-3 / 8-11
#   GGAC CCCCC GUCC CC    stem 0-3 / 9-12, tail CC
RECORDS = [
    ("GCAGCCCCCUGC", [(0, 11), (1, 10), (2, 9), (3, 8)], "RF1"),
    ("GGACCCCCCGUCCCC", [(0, 12), (1, 11), (2, 10), (3, 9)], "RF2"),
]
COMPLEMENT = {"A": "T", "T": "A", "G": "C", "C": "G"}
IDS = {base: VOCAB[base] for base in "ACGT"}


class PartnerCopier(torch.nn.Module):
    """Knows the fixture's structures (a record is recognised by its length): at a masked position it
    answers the complement of the partner base it is given, and ``A`` where the partner is masked or
    absent (a 'model' that reads the partner strand)."""

    def __init__(self, records, loop_answer: str = "A"):
        super().__init__()
        self.records = [(seq.replace("U", "T"), dict(p for i, j in pairs for p in ((i, j), (j, i)))) for seq, pairs, _ in records]
        self.loop_answer = loop_answer

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, len(VOCAB))
        for row, ids in enumerate(input_ids.tolist()):
            length = int(attention_mask[row].sum()) - 2
            bases = ids[1 : 1 + length]
            partner = next(p for s, p in self.records if len(s) == length)
            letters = {token: base for base, token in IDS.items()}
            for t, token in enumerate(bases):
                if token != VOCAB["[MASK]"]:
                    continue
                q = partner.get(t)
                answer = COMPLEMENT[letters[bases[q]]] if q is not None and bases[q] != VOCAB["[MASK]"] else self.loop_answer
                logits[row, t + 1, IDS[answer]] = 10.0
        return SimpleNamespace(logits=logits)


class Constant(torch.nn.Module):
    """Always the same logits over the vocabulary (``base`` favoured, or uniform when None)."""

    def __init__(self, base: str | None):
        super().__init__()
        self.base = base

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, len(VOCAB))
        if self.base is not None:
            logits[..., IDS[self.base]] = 5.0
        return SimpleNamespace(logits=logits)


def _instances(**kwargs):
    sequences = [r[0] for r in RECORDS]
    pairs = [r[1] for r in RECORDS]
    units = [r[2] for r in RECORDS]
    return sequences, pairs, span_recovery_instances(sequences, pairs, units, min_length=3, max_length=8, **kwargs)


# --- helix strands and windows --------------------------------------------------------------------


def test_helix_strands_by_hand():
    assert helix_strands([(0, 11), (1, 10), (2, 9), (3, 8)], 12) == [(0, 4), (8, 12)]
    # A bulge at 3 ends the run on both sides: 3′ positions 8-9 pair with 5-4, then 10-12 with 2-0.
    pairs = [(0, 12), (1, 11), (2, 10), (4, 9), (5, 8)]
    assert helix_strands(pairs, 13, min_length=2) == [(0, 3), (4, 6), (8, 10), (10, 13)]
    assert helix_strands(pairs, 13, min_length=3) == [(0, 3), (10, 13)]
    # Runs longer than max_length are left out, not cut.
    five = [(0, 14), (1, 13), (2, 12), (3, 11), (4, 10)]
    assert helix_strands(five, 15) == [(0, 5), (10, 15)]
    assert helix_strands(five, 15, max_length=4) == []
    # Two helices stacked end to end (partners jump): two strands on each side.
    assert helix_strands([(0, 20), (1, 19), (2, 18), (3, 9), (4, 8)], 21, min_length=2) == [(0, 3), (3, 5), (8, 10), (18, 21)]
    # Base 2 is in two pairs (a multiplet): both its pairs, (2, 8) and (2, 7), belong to no strand.
    assert helix_strands([(0, 10), (1, 9), (2, 8), (2, 7)], 11, min_length=2) == [(0, 2), (9, 11)]


def test_unpaired_windows_by_hand():
    pairs = [(0, 11), (1, 10), (2, 9), (3, 8)]
    assert unpaired_windows(pairs, 12, 3) == [4, 5]
    assert unpaired_windows(pairs, 12, 4) == [4]
    assert unpaired_windows(pairs, 12, 5) == []


def test_instances_are_matched_pairs_of_equal_length_in_the_same_record():
    sequences, pairs, instances = _instances()
    assert len(instances) == 4  # one helix strand + one unpaired window per record
    for helix, loop in zip(instances[::2], instances[1::2]):
        assert (helix.kind, loop.kind) == ("helix", "unpaired")
        assert helix.record == loop.record and helix.unit == loop.unit
        assert helix.stop - helix.start == loop.stop - loop.start == 4
        partner = dict(p for i, j in pairs[loop.record] for p in ((i, j), (j, i)))
        assert all(t not in partner for t in range(loop.start, loop.stop))
    assert _instances()[2] == instances  # seeded: the same instances for every model
    # Record 0's loop holds 4 nt: only window 4-8 fits a 4-nt strand.
    assert [(i.start, i.stop) for i in instances if i.record == 0 and i.kind == "unpaired"] == [(4, 8)]


def test_records_per_unit_cap():
    sequences = [RECORDS[0][0]] * 5
    pairs = [RECORDS[0][1]] * 5
    instances = span_recovery_instances(sequences, pairs, ["RF1"] * 5, max_records_per_unit=2, seed=3)
    assert len({i.record for i in instances}) == 2


# --- span recovery --------------------------------------------------------------------------------


def test_a_model_that_copies_the_partner_strand_scores_one_on_helices():
    sequences, pairs, instances = _instances()
    result = span_recovery(PartnerCopier(RECORDS), sequences, pairs, instances)
    summary = result.summary()
    assert summary["helix_accuracy"] == 1.0
    assert summary["helix_pair_consistency"] == 1.0
    assert summary["unpaired_accuracy"] == 0.0  # loops are all C, the copier answers A there
    assert summary["helix_minus_unpaired"] == 1.0
    assert summary["instances"] == 4 and summary["units"] == 2
    units = result.unit_scores()["helix_accuracy"]
    assert units.units == ["RF1", "RF2"] and units.weights.tolist() == [4.0, 4.0]


def test_span_recovery_of_a_constant_model_by_hand():
    sequences, pairs, instances = _instances()
    strands = [sequences[i.record][i.start : i.stop] for i in instances if i.kind == "helix"]
    result = span_recovery(Constant("G"), sequences, pairs, instances).summary()
    expected = sum(s.count("G") for s in strands) / sum(map(len, strands))
    assert result["helix_accuracy"] == pytest.approx(expected)
    assert result["unpaired_accuracy"] == 0.0  # loops are C
    # G pairs canonically with C and U: count the partners that are C or U.
    partners = []
    for instance in instances:
        if instance.kind == "helix":
            partner = dict(p for i, j in pairs[instance.record] for p in ((i, j), (j, i)))
            partners += [sequences[instance.record][partner[t]] for t in range(instance.start, instance.stop)]
    assert result["helix_pair_consistency"] == pytest.approx(sum(b in "CU" for b in partners) / len(partners))
    # A uniform model: log-likelihood ln(1/4) per nucleotide.
    uniform = span_recovery(Constant(None), sequences, pairs, instances).summary()
    assert uniform["helix_nll"] == pytest.approx(math.log(4)) and uniform["unpaired_nll"] == pytest.approx(math.log(4))


def test_partner_swap_is_zero_for_models_that_ignore_the_partner():
    sequences, pairs, instances = _instances()
    for model in (Constant("G"), Constant(None)):
        scores = partner_swap(model, sequences, pairs, instances)
        assert scores.units == ["RF1", "RF2"] and scores.weights.tolist() == [4.0, 4.0]
        assert np.all(scores.values == 0.0)


def test_partner_swap_of_a_partner_reader_by_hand():
    """The copier answers the complement of whatever partner it sees (logit 10 of 4 classes): after the
    swap its answer pairs with the new partner b′; before, the complement of the old partner b pairs
    with b′ only as a G·U wobble (b = C, b′ = U or b = A, b′ = G). The draws follow the documented
    procedure: helix instances in order, positions 5′ → 3′, b′ uniform among the three other bases."""
    sequences, pairs, instances = _instances()
    rng = np.random.default_rng(0)
    peak = math.exp(10) / (math.exp(10) + 3)  # probability of the answer; 1 − peak spread over 3 bases
    expected: dict[str, list[float]] = {}
    for instance in (i for i in instances if i.kind == "helix"):
        partner = dict(p for i, j in pairs[instance.record] for p in ((i, j), (j, i)))
        for t in range(instance.start, instance.stop):
            old = sequences[instance.record][partner[t]].replace("U", "T")
            new = [x for x in "ACGT" if x != old][rng.integers(3)]
            def pairing_mass(answer: str) -> float:  # probability mass on bases that pair with `new`
                return sum((peak if x == answer else (1 - peak) / 3) for x in "ACGT" if {x, new} in ({"A", "T"}, {"G", "C"}, {"G", "T"}))
            expected.setdefault(instance.unit, []).append(pairing_mass(COMPLEMENT[new]) - pairing_mass(COMPLEMENT[old]))
    scores = partner_swap(PartnerCopier(RECORDS), sequences, pairs, instances)
    assert scores.units == sorted(expected)
    assert scores.values == pytest.approx([np.mean(expected[u]) for u in scores.units], abs=1e-6)
    assert scores.values.min() > 0.5  # mostly 1: the wobble cases are the only misses


def test_span_recovery_runs_a_real_encoder_in_batches():
    sequences, pairs, instances = _instances()
    model = SSRLMForMaskedLM(SSRLMConfig(**TINY))
    one_batch = span_recovery(model, sequences, pairs, instances, batch_tokens=10_000)
    one_each = span_recovery(model, sequences, pairs, instances, batch_tokens=1)  # one sequence per batch
    np.testing.assert_allclose(one_batch.log_likelihood, one_each.log_likelihood, rtol=1e-5, atol=1e-5)
    assert 0.0 <= one_batch.summary()["helix_accuracy"] <= 1.0


# --- held-out loss ----------------------------------------------------------------------------------


def test_heldout_loss_of_a_uniform_model_is_ln4_and_the_unigram_floor_is_by_hand():
    sequences = ["ACGTACGTACGTACGTACGT", "AAAAAAAAAAAAAAAAAAAANNNN"]
    result = heldout_masked_lm_loss(Constant(None), sequences, rate=0.5, seed=1)
    assert result["loss"] == pytest.approx(math.log(4))
    # 10 masked of the first sequence, 12 of the second's 24 (N positions are never scored): count the bases.
    from modeling_ssrlm.data.masking import token_mask

    bases = []
    for index, sequence in enumerate(sequences):
        mask = token_mask(len(sequence), 0.5, np.random.default_rng([1, index])) & np.array([b != "N" for b in sequence])
        bases += [b for b, m in zip(sequence, mask) if m]
    counts = np.array([bases.count(b) for b in "ACGT"])
    p = counts[counts > 0] / counts.sum()
    assert result["masked"] == len(bases)
    assert result["unigram"] == pytest.approx(float(-(p * np.log(p)).sum()))
    assert result["accuracy"] == pytest.approx(bases.count("A") / len(bases))  # ties go to A
    # Fixed masks: a second model sees the same positions.
    assert heldout_masked_lm_loss(Constant("A"), sequences, rate=0.5, seed=1)["masked"] == len(bases)


# --- contacts and pair probe ----------------------------------------------------------------------


def test_contact_probe_scores_p_at_l_of_the_fitted_model(tmp_path):
    from modeling_ssrlm.modeling_ssrlm_contact import SSRLMForContactRegression

    SSRLMForMaskedLM(SSRLMConfig(**TINY)).save_pretrained(tmp_path / "mlm")
    train = (["GGGGAAAACCCC", "GGGGGAAAACCCCC"], [[(0, 11), (1, 10), (2, 9), (3, 8)], [(0, 13), (1, 12), (2, 11), (3, 10), (4, 9)]])
    test = {"t": (["GCGCAAAAAGCGC", "ACG"], [[(0, 12), (1, 11), (2, 10), (3, 9)], []], ["a", "short"])}
    scores, fit = contact_probe(str(tmp_path / "mlm"), train, test)
    assert scores["t"].units == ["a"]  # 3 nt: no pair at separation >= 6
    assert fit["num_sequences"] == 2
    # The same regression fitted again gives the same P@L.
    from modeling_ssrlm.training.contact_regression import fit_contact_regression

    model = SSRLMForContactRegression.from_pretrained(tmp_path / "mlm")
    fit_contact_regression(model, *train)
    probabilities = model.pair_probabilities(["GCGCAAAAAGCGC"])[0]
    assert scores["t"].values[0] == pytest.approx(precision_at_l(probabilities, test["t"][1][0]))


def test_pair_probe_scores_equal_predict_and_read_priors_from_the_cache(tmp_path):
    config = SSRLMConfig(**TINY, pair_prior_channels=["bpp:turner2004", "mfe:turner2004"], pair_threshold=0.4)
    model = SSRLMForPairPrediction(config).eval()
    sequences = ["GGGGAAAACCCC", "GCGCAAAAAGCGCAUAU", "ACGUACGUAC"]
    truths = [[(0, 11), (1, 10)], [(0, 12), (1, 11), (2, 10), (3, 9)], []]
    scores = pair_probe_scores(model, {"s": (sequences, truths, ["x", "y", "z"])}, prior_cache_dir=str(tmp_path / "cache"))
    expected = [pair_scores(p.pairs, t)["f1"] for p, t in zip(model.predict(sequences), truths)]
    np.testing.assert_allclose(scores["s"]["f1"].values, expected)
    assert any((tmp_path / "cache").rglob("*.npz"))
    again = pair_probe_scores(model, {"s": (sequences, truths, ["x", "y", "z"])}, prior_cache_dir=str(tmp_path / "cache"))
    np.testing.assert_allclose(again["s"]["f1"].values, expected)


# --- statistics ---------------------------------------------------------------------------------------


def _scores(values, weights=None, units=None):
    units = units or [f"u{k}" for k in range(len(values))]
    return UnitScores(units, np.array(values, float), np.ones(len(values)) if weights is None else np.array(weights, float))


def test_unit_scores_weighted_mean_and_alignment():
    scores = _scores([1.0, 0.0, 0.5], [3, 1, 0])
    assert scores.mean() == pytest.approx(0.75)
    units, values, weights = aligned([_scores([1, 2], units=["b", "a"]), _scores([5, 6, 7], units=["a", "b", "c"])])
    assert units == ["a", "b"] and values.tolist() == [[2, 1], [5, 6]]
    assert UnitScores.from_json(scores.to_json()).to_json() == scores.to_json()
    with pytest.raises(ValueError, match="distinct"):
        UnitScores(["a", "a"], np.zeros(2), np.ones(2))


def test_mean_sd():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert math.isnan(mean_sd([4.0])[1])


def test_sign_flip_test_by_hand():
    # 3 positive differences: of the 8 sign patterns only +++ and --- reach |mean| = 2.
    assert sign_flip_test([1.0, 2.0, 3.0]) == (pytest.approx(0.25), pytest.approx(0.25))
    # [3, -1, 1], |mean| 1: sums over the 8 sign patterns are ±3, ±1, ±5, ±3; all but ±1 reach |mean| ≥ 1 → 6/8.
    assert sign_flip_test([3.0, -1.0, 1.0])[0] == pytest.approx(6 / 8)
    assert sign_flip_test([1.0] * 5)[1] == pytest.approx(2 / 32)


def test_paired_bootstrap_of_a_constant_shift_is_the_shift():
    rng = np.random.default_rng(0)
    base = [rng.random(30) for _ in range(3)]
    arm_b = [_scores(values) for values in base]
    arm_a = [_scores(values + 0.1) for values in base]
    result = paired_bootstrap(arm_a, arm_b, replicates=500)
    assert result.difference == pytest.approx(0.1)
    assert result.ci_low == pytest.approx(0.1) and result.ci_high == pytest.approx(0.1)
    assert result.p_bootstrap == pytest.approx(2 / 501)  # every replicate > 0: (0 + 1) / (500 + 1), two-sided
    assert result.per_seed_differences == pytest.approx([0.1] * 3)
    identical = paired_bootstrap(arm_b, arm_b, replicates=100)
    assert identical.difference == 0 and identical.ci_low == 0 and identical.ci_high == 0 and identical.p_bootstrap == 1.0


def test_paired_bootstrap_by_hand_weights_and_seed_variation():
    # One seed, two units with weights 3 and 1: A = (1, 0) → 0.75, B = (0, 0) → 0.
    result = paired_bootstrap([_scores([1, 0], [3, 1])], [_scores([0, 0], [3, 1])], replicates=2000, seed=1)
    assert result.difference == pytest.approx(0.75)
    # Resampled units give 0 (both units u1), 0.75 (one of each) or 1 (both u0): the interval spans [0, 1].
    assert result.ci_low == pytest.approx(0.0) and result.ci_high == pytest.approx(1.0)
    # Seeds that disagree: +0.2 and -0.2 on every unit → difference 0, interval holding both signs.
    a = [_scores([0.7] * 10), _scores([0.3] * 10)]
    b = [_scores([0.5] * 10), _scores([0.5] * 10)]
    spread = paired_bootstrap(a, b, replicates=2000)
    assert spread.difference == pytest.approx(0.0)
    assert spread.ci_low == pytest.approx(-0.2) and spread.ci_high == pytest.approx(0.2)
    fixed = paired_bootstrap(a, b, replicates=200, resample_seeds=False)
    assert fixed.ci_low == pytest.approx(0.0) and fixed.ci_high == pytest.approx(0.0)
    with pytest.raises(ValueError, match="equally many"):
        paired_bootstrap(a, b[:1])
