"""Tests of the supervised pair model (modeling_ssrlm/modeling_ssrlm_pair.py) and its collator."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM
from modeling_ssrlm.modeling_ssrlm_pair import (
    AutoModelForPairPrediction,
    PairPredictionMixin,
    SSRLMForPairPrediction,
    _length_batches,
    logits_to_probabilities,
    pair_bce_loss,
    pair_identity_features,
    residue_mask,
    scored_pair_mask,
)
from modeling_ssrlm.data.pair_collator import DataCollatorForPairPrediction
from modeling_ssrlm.thermodynamics import compute_prior_channels
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer
from modeling_ssrlm.training.thresholds import choose_threshold


@pytest.fixture
def config() -> SSRLMConfig:
    return SSRLMConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        pair_hidden_channels=4,
        pair_num_blocks=2,
        pair_dilations=[1, 2],
    )


@pytest.fixture
def model(config) -> SSRLMForPairPrediction:
    return SSRLMForPairPrediction(config).eval()


def encode(sequences):
    return SSRLMTokenizer()(sequences, padding=True, return_tensors="pt")


def test_logits_are_symmetric_with_nucleotide_shape(model):
    batch = encode(["GGGAAACCC", "ACGUACGUACGUAC"])
    with torch.no_grad():
        output = model(**batch)
    assert output.logits.shape == (2, 14, 14)
    assert torch.equal(output.logits, output.logits.transpose(1, 2))
    # padded rows/columns of the shorter sequence are at the dtype minimum (probability 0)
    assert torch.all(output.logits[0, 9:, :] == torch.finfo(torch.float32).min)
    assert output.pair_mask.shape == (2, 14, 14)
    assert not output.pair_mask[0, :, 9:].any() and output.pair_mask[0, 0, 8] and not output.pair_mask[0, 8, 0]


def test_loss_hand_check_on_a_1x4x4_case():
    # 3 real nucleotides + 1 padded position; (0, 2) is paired.
    logits = torch.tensor([[[9.0, 1.0, -1.0, 7.0], [4.0, 9.0, 0.0, 7.0], [3.0, 3.0, 9.0, 7.0], [7.0, 7.0, 7.0, 7.0]]])
    labels = torch.tensor([[[0.0, 0.0, 1.0, -100.0], [0.0, 0.0, 0.0, -100.0], [1.0, 0.0, 0.0, -100.0], [-100.0] * 4]])
    residues = torch.tensor([[True, True, True, False]])
    mask = scored_pair_mask(residues, min_separation=1)
    assert mask.nonzero().tolist() == [[0, 0, 1], [0, 0, 2], [0, 1, 2]]
    # only (0,1): x=1,y=0; (0,2): x=-1,y=1 weighted 2; (1,2): x=0,y=0 — the diagonal, the lower
    # triangle and the padded row/column (all other numbers above) must not count.
    expected = (math.log1p(math.exp(1.0)) + 2 * math.log1p(math.exp(1.0)) + math.log(2.0)) / 3
    assert pair_bce_loss(logits, labels, mask, pos_weight=2.0).item() == pytest.approx(expected, rel=1e-6)
    only_far = scored_pair_mask(residues, min_separation=2)
    assert pair_bce_loss(logits, labels, only_far, pos_weight=2.0).item() == pytest.approx(2 * math.log1p(math.e), rel=1e-6)
    # an ignored label (-100) inside the scored region drops that entry
    # min_separation = 0 adds the diagonal of the real nucleotides as negatives (x = 9, y = 0, three times)
    with_diagonal = scored_pair_mask(residues, min_separation=0)
    assert with_diagonal.nonzero().tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 1], [0, 1, 2], [0, 2, 2]]
    expected_diagonal = (3 * expected + 3 * math.log1p(math.exp(9.0))) / 6
    assert pair_bce_loss(logits, labels, with_diagonal, pos_weight=2.0).item() == pytest.approx(expected_diagonal, rel=1e-6)
    labels[0, 0, 1] = -100.0
    expected_ignored = (2 * math.log1p(math.exp(1.0)) + math.log(2.0)) / 2
    assert pair_bce_loss(logits, labels, mask, pos_weight=2.0).item() == pytest.approx(expected_ignored, rel=1e-6)


def test_model_loss_uses_collator_labels(model):
    features = [{"sequence": "GGGAAACCC", "pairs": [[0, 8], [1, 7]]}, {"sequence": "ACGUAC", "pairs": []}]
    batch = DataCollatorForPairPrediction()(features)
    assert batch["labels"].shape == (2, 9, 9)
    assert batch["labels"][0, 0, 8] == 1 and batch["labels"][0, 8, 0] == 1 and batch["labels"][1, 0, 6] == -100
    output = model(**batch)
    manual = pair_bce_loss(output.logits, batch["labels"], output.pair_mask, model.config.pair_pos_weight)
    assert output.loss.item() == pytest.approx(manual.item())
    output.loss.backward()
    assert model.model.embed_tokens.weight.grad is not None


def test_logits_do_not_depend_on_padding(model):
    short, long = "GGGAUACCCAGU", "ACGUACGUACGUACGUACGUAAGG"
    with torch.no_grad():
        alone = model(**encode([short])).logits[0]
        batched = model(**encode([short, long])).logits[0, : len(short), : len(short)]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_factorised_pair_features_equal_explicit_concatenation(model):
    head = model.pair_head
    embeddings = torch.randn(2, 5, model.config.hidden_size)
    e = head.embedding_proj(embeddings)
    length = e.shape[1]
    explicit = torch.cat(
        [e[:, :, None, :].expand(-1, -1, length, -1), e[:, None, :, :].expand(-1, length, -1, -1), e[:, :, None] * e[:, None]],
        dim=-1,
    )
    expected = head.pair_proj(explicit).permute(0, 3, 1, 2)
    torch.testing.assert_close(head.pair_features(embeddings), expected, atol=1e-6, rtol=1e-5)


def test_mlm_encoder_weights_load_into_pair_model(config, tmp_path):
    mlm = SSRLMForMaskedLM(config)
    mlm.save_pretrained(tmp_path)
    pair = SSRLMForPairPrediction.from_pretrained(tmp_path)
    for name, tensor in mlm.model.state_dict().items():
        assert torch.equal(pair.model.state_dict()[name], tensor), name
    assert all(torch.isfinite(p).all() for p in pair.pair_head.parameters())


def test_save_load_round_trip_keeps_decision_settings_and_outputs(model, tmp_path):
    model.config.pair_threshold = 0.37
    model.config.pair_matching = "max_weight"
    model.config.pair_canonical_only = True
    model.save_pretrained(tmp_path)
    loaded = SSRLMForPairPrediction.from_pretrained(tmp_path).eval()
    assert (loaded.config.pair_threshold, loaded.config.pair_matching, loaded.config.pair_canonical_only) == (0.37, "max_weight", True)
    assert not any("threshold" in key for key in loaded.state_dict())
    batch = encode(["GGGAAACCCU"])
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)


def test_auto_class_loads_the_pair_model(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert type(AutoModelForPairPrediction.from_pretrained(tmp_path)) is SSRLMForPairPrediction


def test_predict_returns_input_order_and_applies_postprocessing(model):
    sequences = ["GGGGAAAACCCCUUU", "acgu", "GGNAUCCAGUAGC"]
    raw = model.predict(sequences, batch_tokens=20, threshold=0.0, postprocess=False)
    assert [p.sequence for p in raw] == ["GGGGAAAACCCCTTT", "ACGT", "GGNATCCAGTAGC"]
    for prediction in raw:
        probabilities = prediction.probabilities
        length = len(prediction.sequence)
        assert probabilities.shape == (length, length) and np.allclose(probabilities, probabilities.T)
        assert np.all((probabilities >= 0) & (probabilities <= 1)) and np.all(np.diag(probabilities) == 0)
        # threshold 0 without post-processing: every upper-triangle entry is a pair
        assert len(prediction.pairs) == length * (length - 1) // 2
    processed = model.predict(sequences, threshold=0.0, postprocess=True)
    for prediction in processed:
        bases = [b for pair in prediction.pairs for b in pair]
        assert len(bases) == len(set(bases)), "post-processing leaves one partner per base"
        assert all(j - i > model.config.pair_min_loop_length for i, j in prediction.pairs)
        assert len(prediction.dot_bracket.replace(".", "")) == 2 * len(prediction.pairs)
    np.testing.assert_allclose(processed[0].probabilities, raw[0].probabilities, atol=1e-5)  # other batching


def test_decode_pairs_hand_matrix(model):
    probabilities = np.zeros((8, 8))
    for (i, j), p in {(0, 7): 0.9, (0, 6): 0.8, (1, 6): 0.7, (2, 3): 0.95}.items():
        probabilities[i, j] = probabilities[j, i] = p
    sequence = "GGAUAACC"
    assert model.decode_pairs(probabilities, sequence, threshold=0.5, postprocess=False) == [(0, 6), (0, 7), (1, 6), (2, 3)]
    # greedy: (2,3) is a sharp loop, (0,7) wins base 0, (1,6) then still fits
    assert model.decode_pairs(probabilities, sequence, threshold=0.5, postprocess=True) == [(0, 7), (1, 6)]
    assert model.decode_pairs(probabilities, sequence, threshold=0.75, postprocess=True) == [(0, 7)]


def test_choose_threshold_on_a_hand_case():
    class FixedModel(PairPredictionMixin):
        config = SSRLMConfig(hidden_size=16, num_attention_heads=2, pair_postprocess=False)

        def pair_probabilities(self, sequences, batch_tokens):
            matrix = np.zeros((6, 6))
            matrix[0, 5] = matrix[5, 0] = 0.7  # true pair
            matrix[1, 4] = matrix[4, 1] = 0.4  # false pair
            return [matrix]

    search = choose_threshold(FixedModel(), ["GGAACC"], [[(0, 5)]])
    assert search.threshold == 0.4 and search.f1 == 1.0
    assert search.f1_by_threshold[0.38] == pytest.approx(2 / 3) and search.f1_by_threshold[0.7] == 0.0


def test_length_batches_respect_the_token_budget():
    assert _length_batches([10, 3, 30, 4], batch_tokens=24) == [[1, 3], [0], [2]]


@pytest.mark.parametrize(
    "sequences, message",
    [("ACGU", "list of sequences"), (["ACGU", "AC-GU"], "sequence 1: invalid character '-' at position 2"), ([""], "empty")],
)
def test_predict_rejects_bad_input(model, sequences, message):
    with pytest.raises(ValueError, match=message):
        model.predict(sequences)


def test_forward_rejects_bad_layout_and_label_shape(model, config):
    batch = encode(["GGGAAACCC"])
    with pytest.raises(ValueError, match="start with \\[CLS\\]"):
        model(input_ids=batch["input_ids"][:, 1:])
    with pytest.raises(ValueError, match="start with \\[CLS\\]"):  # left padding
        residue_mask(torch.tensor([[0, 2, 5, 6, 3]]), torch.tensor([[0, 1, 1, 1, 1]]), config)
    with pytest.raises(ValueError, match="end with \\[EOS\\]"):  # truncated: no [EOS]
        residue_mask(torch.tensor([[2, 5, 6, 7, 8]]), None, config)
    with pytest.raises(ValueError, match="labels must have shape"):
        model(**batch, labels=torch.zeros(1, 11, 11))


def test_config_matching_methods_are_the_postprocess_ones():
    from modeling_ssrlm.configuration_ssrlm import PAIR_MATCHING_METHODS
    from modeling_ssrlm.postprocess import MATCHING_METHODS

    assert PAIR_MATCHING_METHODS == MATCHING_METHODS


def test_config_rejects_bad_pair_settings():
    with pytest.raises(ValueError, match="pair_matching"):
        SSRLMConfig(pair_matching="best")
    with pytest.raises(ValueError, match="pair_threshold"):
        SSRLMConfig(pair_threshold=1.5)
    with pytest.raises(ValueError, match="pair_dilations"):
        SSRLMConfig(pair_dilations=[])
    with pytest.raises(ValueError, match="pair_min_separation must be a non-negative integer"):
        SSRLMConfig(pair_min_separation=-1)


def test_a_model_trained_on_the_diagonal_still_predicts_no_self_pair(model):
    config = copy.deepcopy(model.config)
    config.pair_min_separation = 0
    diagonal_model = SSRLMForPairPrediction(config).eval()
    diagonal_model.load_state_dict(model.state_dict())
    batch = encode(["GGGAAACCC"])
    with torch.no_grad():
        output = diagonal_model(**batch)
    assert output.pair_mask[0].diagonal().all()
    (probabilities,) = diagonal_model.pair_probabilities(["GGGAAACCC"])
    assert np.all(probabilities.diagonal() == 0.0)
    logits = output.logits[0].numpy()
    np.testing.assert_allclose(probabilities[0, 1:], 1 / (1 + np.exp(-logits[0, 1:])), rtol=1e-5)


# --------------------------------------------------------------------------- prior channels and decoders

PRIORS = ["bpp:turner2004", "mfe:andronescu2007"]


@pytest.fixture
def prior_model(config) -> SSRLMForPairPrediction:
    config = copy.deepcopy(config)
    config.pair_prior_channels = PRIORS
    config.pair_sequence_features = True
    return SSRLMForPairPrediction(config).eval()


def test_collator_adds_zero_padded_prior_channels(tmp_path):
    features = [{"sequence": "GGGGAAAACCCC", "pairs": [[0, 11]]}, {"sequence": "acgun", "pairs": []}]
    batch = DataCollatorForPairPrediction(prior_channels=PRIORS, prior_cache_dir=tmp_path)(features)
    assert batch["pair_priors"].shape == (2, 2, 12, 12) and batch["pair_priors"].dtype == torch.float32
    expected = compute_prior_channels("GGGGAAAACCCC", PRIORS)
    assert torch.equal(batch["pair_priors"][0], torch.from_numpy(expected))
    assert not batch["pair_priors"][1, :, 5:].any() and not batch["pair_priors"][1, :, :, 5:].any()
    assert len(list(tmp_path.rglob("*.npz"))) == 4
    assert "pair_priors" not in DataCollatorForPairPrediction()(features)
    with pytest.raises(ValueError, match="known channels"):
        DataCollatorForPairPrediction(prior_channels=["bpp:unknown"])


def test_prior_model_trains_and_priors_change_the_logits(prior_model):
    features = [{"sequence": "GGGGAAAACCCCAUAU", "pairs": [[0, 11], [1, 10]]}, {"sequence": "ACGUAC", "pairs": []}]
    batch = DataCollatorForPairPrediction(prior_channels=PRIORS)(features)
    output = prior_model(**batch)
    assert output.logits.shape == (2, 16, 16) and torch.isfinite(output.loss)
    output.loss.backward()
    assert prior_model.pair_head.prior_proj.weight.grad.abs().sum() > 0
    assert prior_model.pair_head.prior_proj.in_channels == len(PRIORS) + 16
    with torch.no_grad():
        without = prior_model(**{**batch, "pair_priors": torch.zeros_like(batch["pair_priors"])}).logits
    assert not torch.allclose(without[0, :16, :16], output.logits[0].detach())


def test_prior_model_logits_do_not_depend_on_padding(prior_model):
    short, long = "GGGAUACCCAGU", "ACGUACGUACGUACGUACGUAAGG"
    collate = DataCollatorForPairPrediction(prior_channels=PRIORS)
    with torch.no_grad():
        alone = prior_model(**collate([{"sequence": short, "pairs": []}])).logits[0]
        batch = collate([{"sequence": short, "pairs": []}, {"sequence": long, "pairs": []}])
        batched = prior_model(**batch).logits[0, : len(short), : len(short)]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_forward_checks_prior_channels(prior_model, model):
    batch = encode(["GGGAAACCC"])
    with pytest.raises(ValueError, match=r"reads the prior channels \['bpp:turner2004', 'mfe:andronescu2007'\]"):
        prior_model(**batch)
    with pytest.raises(ValueError, match=r"pair_priors must have shape \(1, 2, 9, 9\)"):
        prior_model(**batch, pair_priors=torch.zeros(1, 2, 10, 10))
    with pytest.raises(ValueError, match="pair_prior_channels is empty"):
        model(**batch, pair_priors=torch.zeros(1, 2, 9, 9))


def test_predict_computes_the_priors_itself(prior_model):
    sequences = ["GGGGAAAACCCCAUAU", "ACGUNAC"]
    predictions = prior_model.predict(sequences)
    batch = DataCollatorForPairPrediction(prior_channels=PRIORS)([{"sequence": s, "pairs": []} for s in sequences])
    with torch.no_grad():
        logits = prior_model(**batch).logits
    for row, prediction in enumerate(predictions):
        length = len(prediction.sequence)
        expected = logits_to_probabilities(logits[row, :length, :length].numpy(), prior_model.config.pair_min_separation)
        np.testing.assert_allclose(prediction.probabilities, expected, atol=1e-6)


def test_sequence_features_alone_need_no_priors(config):
    config.pair_sequence_features = True
    model = SSRLMForPairPrediction(config).eval()
    with torch.no_grad():
        assert model(**encode(["GGGAAACCC"])).logits.shape == (1, 9, 9)
    features = pair_identity_features(encode(["ACGN", "GU"])["input_ids"], torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool())
    assert features.shape == (2, 16, 4, 4)
    assert features[0, 0 * 4 + 1, 0, 1] == 1 and features[0, 2 * 4 + 0, 2, 0] == 1 and features[0].sum() == 9  # 3 × 3 known
    assert features[1, 2 * 4 + 3, 0, 1] == 1 and features[1].sum() == 4 and not features[1, :, 2:].any()


def test_folders_saved_before_the_new_fields_load_with_the_same_weights_and_outputs(model, tmp_path):
    """Old folders: no ``pair_prior_channels``, decoder or read-out fields in their config.json."""
    assert model.pair_head.prior_proj is None and not any("prior_proj" in key for key in model.state_dict())
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    new_fields = [key for key in saved if key.startswith(("pair_prior", "pair_sequence", "pair_decoder", "pair_output"))]
    assert len(new_fields) == 8
    (tmp_path / "config.json").write_text(json.dumps({k: v for k, v in saved.items() if k not in new_fields}))
    old = SSRLMForPairPrediction.from_pretrained(tmp_path)
    assert old.config.pair_prior_channels == () and old.config.pair_output_activation == "relu"
    assert old.config.pair_decoder == "threshold"
    sequences = ["GGGGAAACCCCAUAUGGGGAAACCCC", "ACGUNNACGUAGCUAGCUAGGCUAGCUAGCAUCGAUCGAUGCAGCUAG"]
    for before, after in zip(model.pair_probabilities(sequences), old.pair_probabilities(sequences)):
        assert np.array_equal(before, after)


def test_decode_pairs_with_the_vienna_decoders(model):
    sequence = "GGGGC" "AAAA" "CUGAC" "GCCCC" "AAAA" "GUCAG" "AAAA"
    stems = [(k, 18 - k) for k in range(5)] + [(9 + k, 27 - k) for k in range(5)]
    probabilities = np.full((len(sequence), len(sequence)), 0.001)
    for i, j in stems + [(5, 30)]:  # (5, 30) A-A: confident, crossing, but non-canonical
        probabilities[i, j] = probabilities[j, i] = 0.9
    model.config.pair_canonical_only = True
    for decoder in ("vienna_mfe", "vienna_mea"):
        model.config.pair_decoder = decoder
        assert model.decode_pairs(probabilities, sequence) == sorted(stems)
    model.config.pair_canonical_only = False
    assert model.decode_pairs(probabilities, sequence) == sorted(stems + [(5, 30)])
    assert len(model.decode_pairs(probabilities, sequence, postprocess=False)) == 11  # raw threshold
    # a non-canonical pair below the threshold enters only through the non-canonical pass
    probabilities[5, 30] = probabilities[30, 5] = 0.3
    assert model.decode_pairs(probabilities, sequence) == sorted(stems)
    model.config.pair_noncanonical_threshold = 0.25
    assert model.decode_pairs(probabilities, sequence) == sorted(stems + [(5, 30)])
    model.config.pair_noncanonical_placement = "stacked"  # (5, 30) stacks on no decoded pair
    assert model.decode_pairs(probabilities, sequence) == sorted(stems)
    model.config.pair_noncanonical_threshold, model.config.pair_noncanonical_placement = None, "anywhere"


def test_config_checks_the_new_pair_fields():
    with pytest.raises(ValueError, match="known channels: bpp:turner2004, mfe:turner2004"):
        SSRLMConfig(pair_prior_channels=["bpp:vienna"])
    with pytest.raises(ValueError, match="must not repeat"):
        SSRLMConfig(pair_prior_channels=["bpp:turner2004", "bpp:turner2004"])
    with pytest.raises(ValueError, match="pair_decoder must be one of"):
        SSRLMConfig(pair_decoder="centroid")
    with pytest.raises(ValueError, match="pair_decoder_scale"):
        SSRLMConfig(pair_decoder_scale=0.0)
    with pytest.raises(ValueError, match="pair_noncanonical_threshold must be None or in"):
        SSRLMConfig(pair_noncanonical_threshold=1.5)
    with pytest.raises(ValueError, match="pair_noncanonical_placement must be one of"):
        SSRLMConfig(pair_noncanonical_placement="near")
    assert SSRLMConfig().pair_noncanonical_placement == "anywhere"
    assert SSRLMConfig().pair_noncanonical_threshold is None


def test_config_choices_are_the_thermodynamics_ones():
    from modeling_ssrlm import thermodynamics
    from modeling_ssrlm.configuration_ssrlm import (
        PAIR_DECODER_TRANSFORMS,
        PAIR_DECODERS,
        PAIR_NONCANONICAL_PLACEMENTS,
        PAIR_PRIOR_CHANNELS,
    )

    assert PAIR_PRIOR_CHANNELS == thermodynamics.PRIOR_CHANNELS
    assert PAIR_NONCANONICAL_PLACEMENTS == thermodynamics.NONCANONICAL_PLACEMENTS
    assert PAIR_DECODERS == thermodynamics.DECODERS
    assert PAIR_DECODER_TRANSFORMS == thermodynamics.SOFT_CONSTRAINT_TRANSFORMS


def test_encoder_without_layers_is_the_prior_only_baseline(config, tmp_path):
    """``num_hidden_layers=0``: embeddings only, no language model; the priors carry the structure."""
    config.num_hidden_layers = 0
    config.pair_prior_channels = ["bpp:turner2004"]
    model = SSRLMForPairPrediction(config)
    assert len(model.model.layers) == 0
    features = [{"sequence": "GGGGAAAACCCC", "pairs": [[0, 11], [1, 10]]}, {"sequence": "ACGUAC", "pairs": []}]
    batch = DataCollatorForPairPrediction(prior_channels=config.pair_prior_channels)(features)
    model(**batch).loss.backward()
    assert model.pair_head.prior_proj.weight.grad.abs().sum() > 0
    model.eval().save_pretrained(tmp_path)
    loaded = SSRLMForPairPrediction.from_pretrained(tmp_path).eval()
    assert loaded.config.num_hidden_layers == 0
    np.testing.assert_array_equal(loaded.predict(["GGGGAAAACCCC"])[0].probabilities, model.predict(["GGGGAAAACCCC"])[0].probabilities)


def test_threshold_search_with_a_vienna_decoder_folds_each_sequence_once(monkeypatch):
    import modeling_ssrlm.modeling_ssrlm_pair as pair_module
    from modeling_ssrlm.evaluation.metrics import pair_scores
    from modeling_ssrlm.training.thresholds import search_threshold

    model = SSRLMForPairPrediction(SSRLMConfig(hidden_size=16, num_attention_heads=2, pair_decoder="vienna_mfe"))
    sequence = "GGGGAAAACCCCAAAGGGAAACCC"
    probabilities = np.full((len(sequence), len(sequence)), 0.05)
    np.fill_diagonal(probabilities, 0.0)
    truth = [(0, 11), (1, 10), (2, 9), (3, 8)]
    for i, j in truth:
        probabilities[i, j] = probabilities[j, i] = 0.95
    direct = {t: model.decode_pairs(probabilities, sequence, t) for t in (0.1, 0.5, 0.9)}
    calls = []
    original = pair_module.vienna_nested_pairs
    monkeypatch.setattr(pair_module, "vienna_nested_pairs", lambda *a, **k: calls.append(1) or original(*a, **k))
    search = search_threshold(model, [probabilities], [sequence], [truth], grid=(0.1, 0.5, 0.9))
    assert len(calls) == 1
    for threshold, pairs in direct.items():
        assert search.f1_by_threshold[threshold] == pytest.approx(pair_scores(pairs, truth)["f1"])


def test_prior_workers_fold_long_batches_in_processes_with_the_same_result(monkeypatch):
    import modeling_ssrlm.modeling_ssrlm_pair as pair_module

    config = SSRLMConfig(
        hidden_size=16, num_attention_heads=2, num_hidden_layers=0, pair_hidden_channels=4, pair_num_blocks=1,
        pair_prior_channels=["bpp:turner2004", "mfe:andronescu2007"],
    )
    model = SSRLMForPairPrediction(config).eval()
    long = "".join(np.random.default_rng(0).choice(list("ACGU"), 310))  # 310³ > PARALLEL_PRIORS_MIN_WORK
    short = "GGGGAAAACCCC"
    workers_used = []
    original = pair_module.compute_prior_channels_many
    monkeypatch.setattr(
        pair_module, "compute_prior_channels_many",
        lambda sequences, channels, workers, **kw: workers_used.append(workers) or original(sequences, channels, workers, **kw),
    )  # fmt: skip
    serial = model.pair_probabilities([long, short], batch_tokens=400)
    pooled = model.pair_probabilities([long, short], batch_tokens=400, prior_workers=2)
    assert workers_used == [1, 1, 1, 2], "one batch per sequence; only the long one is worth a pool"
    for a, b in zip(serial, pooled, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="prior_workers"):
        model.pair_probabilities([short], prior_workers=0)


def test_a_single_nucleotide_predicts_alone_as_in_a_batch():
    model = SSRLMForPairPrediction(SSRLMConfig(hidden_size=16, num_attention_heads=2, pair_hidden_channels=4)).eval()
    [alone] = model.pair_probabilities(["A"])
    batched = model.pair_probabilities(["A", "GGGGAAACCCC"])[0]
    assert alone.shape == (1, 1) and np.array_equal(alone, batched)


@pytest.mark.parametrize("activation", ["relu", "none"])
def test_linear_read_out_has_no_ceiling_when_every_read_out_weight_is_negative(activation):
    """The released head of issue 14: after a ReLU, negative read-out weights cap every logit at the bias."""
    config = SSRLMConfig(hidden_size=16, num_attention_heads=2, pair_hidden_channels=4, pair_output_activation=activation)
    model = SSRLMForPairPrediction(config).eval()
    with torch.no_grad():
        model.pair_head.output.weight.fill_(-1.0)
        model.pair_head.output.bias.fill_(0.0)
    encoded = SSRLMTokenizer()(["GGGGAAAACCCCAUGCAUGC"], return_tensors="pt")
    logits = model(**encoded).logits[0]
    if activation == "relu":
        assert logits.max().item() <= 0.0
    else:
        assert logits.max().item() > 0.5


def test_configs_without_the_read_out_field_keep_the_relu_read_out(tmp_path):
    config = SSRLMConfig(hidden_size=16, num_attention_heads=2)
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    saved.pop("pair_output_activation")
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert SSRLMConfig.from_pretrained(tmp_path).pair_output_activation == "relu"
    with pytest.raises(ValueError, match="pair_output_activation"):
        SSRLMConfig(hidden_size=16, num_attention_heads=2, pair_output_activation="gelu")


def test_noncanonical_threshold_search_finds_a_helpful_pass_and_leaves_the_config():
    from modeling_ssrlm.training.thresholds import search_noncanonical_threshold

    model = SSRLMForPairPrediction(SSRLMConfig(hidden_size=16, num_attention_heads=2, pair_decoder="vienna_mfe"))
    sequence = "GGGGAAAGAAAAGACCCC"  # stem 0-3 / 14-17; (7, 12) G·A is non-canonical and true
    truth = [(0, 17), (1, 16), (2, 15), (3, 14), (7, 12)]
    probabilities = np.full((len(sequence), len(sequence)), 0.001)
    for i, j in truth[:4]:
        probabilities[i, j] = probabilities[j, i] = 0.95
    probabilities[7, 12] = probabilities[12, 7] = 0.3
    probabilities[4, 13] = probabilities[13, 4] = 0.1  # A·A, false: a pass below 0.1 adds it too
    model.config.pair_decoder_scale = 1.0
    search = search_noncanonical_threshold(model, [probabilities], [sequence], [truth], grid=(0.05, 0.2, 0.5))
    assert search.threshold == 0.2 and search.f1 == pytest.approx(1.0)
    assert search.f1_by_threshold[1.0] < 1.0 and search.f1_by_threshold[0.05] < 1.0
    assert model.config.pair_noncanonical_threshold is None
    model.config.pair_decoder = "threshold"
    with pytest.raises(ValueError, match="ViennaRNA decoders"):
        search_noncanonical_threshold(model, [probabilities], [sequence], [truth])


def test_noncanonical_threshold_search_refuses_a_pass_that_costs_overall_f1():
    """Better non-canonical F1 is not enough: the pass must keep the overall F1 of decoding without it."""
    from modeling_ssrlm.training.thresholds import search_noncanonical_threshold

    model = SSRLMForPairPrediction(SSRLMConfig(hidden_size=16, num_attention_heads=2, pair_decoder="vienna_mfe"))
    model.config.pair_decoder_scale = 1.0
    sequence = "GGGGAAAGAAAAGACCCC"  # stem 0-3 / 14-17; (7, 12) G·G is true, three A·A pairs are not
    truth = [(0, 17), (1, 16), (2, 15), (3, 14), (7, 12)]
    probabilities = np.full((len(sequence), len(sequence)), 0.001)
    for i, j in truth[:4]:
        probabilities[i, j] = probabilities[j, i] = 0.95
    for (i, j), p in {(7, 12): 0.3, (4, 13): 0.1, (5, 11): 0.1, (6, 10): 0.1}.items():
        probabilities[i, j] = probabilities[j, i] = p
    search = search_noncanonical_threshold(model, [probabilities], [sequence], [truth], grid=(0.05,))
    # at 0.05 all four are added: non-canonical F1 2·(1/4)/(1/4 + 1) = 0.4 > 0, overall F1 10/13 < 8/9
    assert search.noncanonical_f1_by_threshold == pytest.approx({0.05: 0.4, 1.0: 0.0})
    assert search.f1_by_threshold == pytest.approx({0.05: 10 / 13, 1.0: 8 / 9})
    assert search.threshold == 1.0
    model.config.pair_noncanonical_placement = "stacked"  # of the four, only (4, 13) stacks on the stem
    stacked = search_noncanonical_threshold(model, [probabilities], [sequence], [truth], grid=(0.05,))
    assert stacked.f1_by_threshold[0.05] == pytest.approx(0.8) and stacked.threshold == 1.0
