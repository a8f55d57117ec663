"""Tests of the attention contact regression (modeling_ssrlm/unsupervised.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM
from modeling_ssrlm.modeling_ssrlm_contact import (
    SSRLMForContactRegression,
    apc,
    attention_features,
    symmetrize,
)
from modeling_ssrlm.evaluation.metrics import precision_at_l
from modeling_ssrlm.training.contact_regression import fit_contact_regression

HAND = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 1.0]])


@pytest.fixture
def config() -> SSRLMConfig:
    return SSRLMConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)


def test_symmetrize_and_apc_on_a_hand_matrix():
    symmetric = symmetrize(HAND)
    assert symmetric.tolist() == [[2.0, 2.0, 1.0], [2.0, 2.0, 3.0], [1.0, 3.0, 2.0]]
    # row (= column) sums 5, 7, 6; total 18: APC_ij = S_ij - r_i r_j / 18
    corrected = apc(symmetric)
    assert corrected[0, 0].item() == pytest.approx(2 - 25 / 18)
    assert corrected[0, 1].item() == pytest.approx(2 - 35 / 18)
    assert corrected[1, 2].item() == pytest.approx(3 - 42 / 18)
    assert corrected[2, 2].item() == pytest.approx(2 - 36 / 18)
    # equivalently A - rowmean * colmean / mean
    means = symmetric.mean(dim=1, keepdim=True)
    torch.testing.assert_close(corrected, symmetric - means * means.T / symmetric.mean())


def test_apc_of_a_zero_padded_map_matches_the_unpadded_map():
    padded = torch.zeros(5, 5)
    padded[:3, :3] = symmetrize(HAND)
    torch.testing.assert_close(apc(padded)[:3, :3], apc(symmetrize(HAND)))


def test_attention_features_strip_special_tokens_and_order_layer_major():
    torch.manual_seed(0)
    layers = [torch.rand(2, 3, 6, 6) for _ in range(2)]  # batch 2, 3 heads, [CLS] + 4 nt + [EOS]
    residues = torch.tensor([[True, True, True, True], [True, True, True, False]])
    features = attention_features(layers, residues)
    assert features.shape == (2, 4, 4, 6)
    inner = layers[1][0, 2, 1:5, 1:5]  # layer 1, head 2 → feature 1·3 + 2
    torch.testing.assert_close(features[0, :, :, 5], apc(symmetrize(inner)))
    short = layers[0][1, 0, 1:4, 1:4]  # second sequence has 3 nucleotides
    torch.testing.assert_close(features[1, :3, :3, 0], apc(symmetrize(short)))
    assert torch.all(features[1, 3, :, :] == 0) and torch.all(features[1, :, 3, :] == 0)


def test_precision_at_l_hand_case():
    probabilities = np.zeros((12, 12))
    scores = {(0, 11): 0.9, (1, 10): 0.8, (0, 10): 0.7, (2, 4): 0.99}
    for (i, j), p in scores.items():
        probabilities[i, j] = probabilities[j, i] = p
    # (2, 4) is too close (j - i < 6). The top 12 of the 21 candidates: (0,11), (1,10), (0,10), then
    # nine zero-probability entries in position order, none of which is (5, 11).
    assert precision_at_l(probabilities, [(0, 11), (1, 10), (2, 4), (5, 11)]) == pytest.approx(2 / 12)
    # fewer candidates than L: all are taken (8 nt: (0,6), (0,7), (1,7))
    assert precision_at_l(probabilities[:8, :8], [(0, 7)]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no pair"):
        precision_at_l(np.zeros((5, 5)), [])


def test_model_always_runs_eager_with_a_frozen_encoder(config):
    model = SSRLMForContactRegression(config)
    assert model.config._attn_implementation == "eager"
    assert not any(p.requires_grad for p in model.model.parameters())
    model.set_attn_implementation("sdpa")  # refused: attention maps need the eager backend
    assert model.config._attn_implementation == "eager"
    assert model(**_encode(["GGGAAACCC"])).logits.shape == (1, 9, 9)


def _encode(sequences):
    from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer

    return SSRLMTokenizer()(sequences, padding=True, return_tensors="pt")


def test_fit_recovers_an_informative_feature_and_round_trips(config, tmp_path, monkeypatch):
    """Fit on synthetic attention features in which feature 0 marks the true pairs (plus noise)."""
    SSRLMForMaskedLM(config).save_pretrained(tmp_path / "mlm")
    model = SSRLMForContactRegression.from_pretrained(tmp_path / "mlm")
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGU"), size=24)) for _ in range(3)]
    pairs = [[(0, 23), (1, 22), (2, 21), (5, 15)]] * 3

    def synthetic_features(input_ids, attention_mask=None):
        length = input_ids.shape[1] - 2
        features = torch.as_tensor(rng.normal(0, 0.1, size=(1, length, length, 4)), dtype=torch.float32)
        truth = torch.zeros(length, length)
        for i, j in pairs[0]:
            truth[i, j] = truth[j, i] = 1.0
        features[0, :, :, 0] += truth
        return features, torch.ones(1, length, dtype=torch.bool)

    monkeypatch.setattr(model, "contact_features", synthetic_features)
    fit = fit_contact_regression(model, sequences, pairs)
    assert (fit.num_sequences, fit.num_features, fit.num_positives) == (3, 4, 12)
    assert fit.num_entries == 3 * (18 * 19 // 2)  # pairs with j - i >= 6 in 24 nt
    weights = model.contact_head.regression.weight.detach()[0]
    assert weights[0] > 5 * weights[1:].abs().max()
    assert model.config.pair_min_separation == 6
    [prediction] = model.predict([sequences[0]])
    assert precision_at_l(prediction.probabilities, pairs[0]) == pytest.approx(4 / 24)  # all 4 pairs in the top L
    assert np.all(prediction.probabilities[np.abs(np.subtract.outer(range(24), range(24))) < 6] == 0)

    model.config.pair_threshold = 0.3
    model.save_pretrained(tmp_path / "fitted")
    loaded = SSRLMForContactRegression.from_pretrained(tmp_path / "fitted")
    assert loaded.config.pair_threshold == 0.3 and loaded.config.pair_min_separation == 6
    torch.testing.assert_close(loaded.contact_head.regression.weight, model.contact_head.regression.weight)
    torch.testing.assert_close(loaded.contact_head.regression.bias, model.contact_head.regression.bias)


def test_real_forward_gives_symmetric_probabilities(config):
    model = SSRLMForContactRegression(config)
    [prediction] = model.predict(["GGGGAAAACCCCAAUUGG"])
    assert np.allclose(prediction.probabilities, prediction.probabilities.T)


def test_fit_rejects_bad_input(config):
    model = SSRLMForContactRegression(config)
    with pytest.raises(ValueError, match="equally many"):
        fit_contact_regression(model, ["ACGUACGUAC"], [])
    with pytest.raises(ValueError, match="no pair with j - i >= 6"):
        fit_contact_regression(model, ["ACGU"], [[(0, 3)]])
    with pytest.raises(ValueError, match="both paired and unpaired"):
        fit_contact_regression(model, ["ACGUACGUAC"], [[]])
