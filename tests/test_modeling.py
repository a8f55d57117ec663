"""SSR-LM encoder: bidirectionality, padding and packing invariance, backend parity, GQA, MLM loss."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from modeling_ssrlm import SSRLMConfig, SSRLMForMaskedLM, SSRLMModel

SEQUENCES = ["ACGUACGUAAGGCUA", "GGGAAACCC", "AUGCAUGCAUGCAUGCAUGCAUCC"]
TOLERANCE = 1e-5


def _model(config, backend="sdpa", cls=SSRLMModel):
    config._attn_implementation = backend
    return cls(config).eval()


def _single_outputs(model, tokenizer, sequences):
    with torch.no_grad():
        return [model(**tokenizer(s, return_tensors="pt")).last_hidden_state[0] for s in sequences]


def _packed_row(tokenizer, sequences):
    ids = [tokenizer(s, return_tensors="pt")["input_ids"][0] for s in sequences]
    input_ids = torch.cat(ids).unsqueeze(0)
    position_ids = torch.cat([torch.arange(len(x)) for x in ids]).unsqueeze(0)
    return input_ids, position_ids, [len(x) for x in ids]


def test_encoder_is_bidirectional(tiny_config, tokenizer):
    model = _model(tiny_config)
    a = tokenizer("ACGUACGU", return_tensors="pt")
    b = tokenizer("ACGUACGA", return_tensors="pt")
    with torch.no_grad():
        first_a = model(**a).last_hidden_state[0, 1]
        first_b = model(**b).last_hidden_state[0, 1]
    assert (first_a - first_b).abs().max() > 1e-3, "changing the last base must change the first base's output"


@pytest.mark.parametrize("backend", ["sdpa", "eager"])
def test_padding_does_not_change_outputs(tiny_config, tokenizer, backend):
    model = _model(tiny_config, backend)
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        padded = model(**batch).last_hidden_state
    for row, single in enumerate(_single_outputs(model, tokenizer, SEQUENCES)):
        assert torch.allclose(padded[row, : len(single)], single, atol=TOLERANCE, rtol=0)


def test_sdpa_and_eager_agree(tiny_config, tokenizer):
    sdpa = _model(tiny_config, "sdpa")
    eager = _model(SSRLMConfig(**tiny_config.to_dict()), "eager")
    eager.load_state_dict(sdpa.state_dict())
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        difference = (sdpa(**batch).last_hidden_state - eager(**batch).last_hidden_state).abs().max()
    assert difference <= TOLERANCE


@pytest.mark.parametrize("backend", ["sdpa", "eager"])
def test_packed_row_equals_sequences_run_one_by_one(tiny_config, tokenizer, backend):
    model = _model(tiny_config, backend)
    input_ids, position_ids, lengths = _packed_row(tokenizer, SEQUENCES)
    assert len(set(lengths)) == 3
    with torch.no_grad():
        packed = model(input_ids=input_ids, position_ids=position_ids).last_hidden_state[0]
    for single, chunk in zip(_single_outputs(model, tokenizer, SEQUENCES), packed.split(lengths)):
        assert (single - chunk).abs().max() <= TOLERANCE


def test_packed_row_with_padded_tail_and_attention_mask(tiny_config, tokenizer):
    model = _model(tiny_config)
    input_ids, position_ids, lengths = _packed_row(tokenizer, SEQUENCES)
    pad = torch.zeros(1, 5, dtype=torch.long)
    input_ids = torch.cat([input_ids, pad], dim=1)
    position_ids = torch.cat([position_ids, torch.arange(5).unsqueeze(0)], dim=1)
    attention_mask = (input_ids != 0).long()
    with torch.no_grad():
        packed = model(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask).last_hidden_state
    assert torch.isfinite(packed).all()
    for single, chunk in zip(_single_outputs(model, tokenizer, SEQUENCES), packed[0, : sum(lengths)].split(lengths)):
        assert (single - chunk).abs().max() <= TOLERANCE


def test_rotary_positions_restart_per_packed_sequence(tiny_config, tokenizer):
    """Without the restart, the second copy of a sequence would see shifted rotary positions."""
    model = _model(tiny_config)
    input_ids, position_ids, lengths = _packed_row(tokenizer, ["GGGAAACCC", "GGGAAACCC"])
    with torch.no_grad():
        first, second = model(input_ids=input_ids, position_ids=position_ids).last_hidden_state[0].split(lengths)
    assert torch.allclose(first, second, atol=TOLERANCE, rtol=0)


def test_grouped_query_attention(tokenizer):
    config = SSRLMConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=96)
    model = _model(config)
    attention = model.layers[0].self_attn
    assert attention.k_proj.out_features == 2 * config.head_dim and attention.q_proj.out_features == 64
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        sdpa = model(**batch).last_hidden_state
        model.set_attn_implementation("eager")
        eager = model(**batch).last_hidden_state
    assert sdpa.shape == (3, batch["input_ids"].shape[1], 64)
    assert (sdpa - eager).abs().max() <= TOLERANCE


def test_eager_returns_attention_probabilities(tiny_config, tokenizer):
    model = _model(tiny_config, "eager")
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        output = model(**batch, output_attentions=True, output_hidden_states=True)
    length = batch["input_ids"].shape[1]
    assert len(output.attentions) == tiny_config.num_hidden_layers
    assert output.attentions[0].shape == (3, tiny_config.num_attention_heads, length, length)
    assert torch.allclose(output.attentions[0].sum(-1), torch.ones(3, 4, length), atol=1e-5)
    assert output.attentions[0][1, :, :, batch["attention_mask"][1] == 0].abs().max() == 0  # padding gets no weight
    assert len(output.hidden_states) == tiny_config.num_hidden_layers + 1


def test_mlm_loss_counts_only_labelled_positions(tiny_config, tokenizer):
    model = _model(tiny_config, cls=SSRLMForMaskedLM)
    batch = tokenizer(["ACGUAC", "GGCA"], padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 2], labels[0, 5], labels[1, 1] = 6, 5, 7
    with torch.no_grad():
        output = model(**batch, labels=labels)
    logits = output.logits
    by_hand = -(
        F.log_softmax(logits[0, 2], -1)[6] + F.log_softmax(logits[0, 5], -1)[5] + F.log_softmax(logits[1, 1], -1)[7]
    ) / 3
    assert torch.allclose(output.loss, by_hand, atol=1e-6)


def test_mlm_loss_honours_num_items_in_batch(tiny_config, tokenizer):
    """Under gradient accumulation the Trainer passes the token count of the whole accumulated batch."""
    model = _model(tiny_config, cls=SSRLMForMaskedLM)
    batch = tokenizer(["ACGUAC"], return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 2], labels[0, 4] = 6, 5
    with torch.no_grad():
        mean = model(**batch, labels=labels).loss
        summed_over_8 = model(**batch, labels=labels, num_items_in_batch=torch.tensor(8)).loss
    assert torch.allclose(summed_over_8, mean * 2 / 8, atol=1e-6)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_config, tokenizer):
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model = SSRLMForMaskedLM(tiny_config).train()
    model(**batch, labels=labels).loss.backward()
    reference = model.model.layers[0].mlp.up_proj.weight.grad.clone()
    model.zero_grad()
    model.activation_checkpointing_enable()
    model(**batch, labels=labels).loss.backward()
    assert torch.allclose(model.model.layers[0].mlp.up_proj.weight.grad, reference, atol=1e-6)


def test_tied_embeddings_share_one_matrix():
    config = SSRLMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, tie_word_embeddings=True)
    model = SSRLMForMaskedLM(config)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    untied = SSRLMForMaskedLM(SSRLMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
    assert untied.lm_head.weight.data_ptr() != untied.model.embed_tokens.weight.data_ptr()


def test_out_of_vocabulary_ids_give_a_clear_error(tiny_config):
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 9\)"):
        SSRLMModel(tiny_config)(input_ids=torch.tensor([[2, 5, 42, 3]]))
