"""Transformers conventions: torch.compile/export, typed forward kwargs, the fill-mask pipeline."""

from __future__ import annotations

import inspect
import typing

import pytest
import torch
import transformers
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs

from modeling_ssrlm import SSRLMConfig, SSRLMForMaskedLM, SSRLMModel, SSRLMTokenizer

SEQUENCES = ["ACGUACGUAAGG", "GGGAAACCC", "AUGCAU"]
TOLERANCE = 1e-5


@pytest.fixture
def small_config():
    return SSRLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    """Start every test without graphs compiled by an earlier one."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _first_output(output) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output.last_hidden_state


@pytest.mark.parametrize("cls", [SSRLMModel, SSRLMForMaskedLM])
def test_compiles_with_fullgraph_and_matches_eager(small_config, tokenizer, cls):
    model = cls(small_config).eval()
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any()
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # a graph break raises here
    with torch.no_grad():
        expected, actual = _first_output(model(**batch)), _first_output(compiled(**batch))
    # Only real tokens are compared: outputs at padding positions are unspecified.
    real = batch["attention_mask"].bool()
    assert torch.allclose(actual[real], expected[real], atol=TOLERANCE, rtol=0)


def test_compiled_packed_row_matches_eager(small_config, tokenizer):
    model = SSRLMModel(small_config).eval()
    ids = [tokenizer(sequence, return_tensors="pt")["input_ids"][0] for sequence in SEQUENCES]
    inputs = {
        "input_ids": torch.cat(ids).unsqueeze(0),
        "position_ids": torch.cat([torch.arange(len(x)) for x in ids]).unsqueeze(0),
    }
    with torch.no_grad():
        expected = model(**inputs).last_hidden_state
        actual = torch.compile(model, fullgraph=True, backend="eager")(**inputs).last_hidden_state
    assert torch.allclose(actual, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("cls", [SSRLMModel, SSRLMForMaskedLM])
def test_torch_export_matches_eager(small_config, tokenizer, cls):
    model = cls(small_config).eval()
    batch = dict(tokenizer(SEQUENCES, padding=True, return_tensors="pt"))
    program = torch.export.export(model, args=(), kwargs=batch)
    with torch.no_grad():
        expected, actual = _first_output(model(**batch)), _first_output(program.module()(**batch))
    real = batch["attention_mask"].bool()
    assert torch.allclose(actual[real], expected[real], atol=TOLERANCE, rtol=0)


def test_out_of_vocabulary_ids_raise_in_eager_mode_and_fail_the_compiled_assertion(small_config):
    model = SSRLMModel(small_config).eval()
    bad = torch.tensor([[2, 5, -1, 3]])
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 9\), got values in \[-1, 5\]"):
        model(input_ids=bad)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    compiled(input_ids=torch.tensor([[2, 5, 6, 3]]))
    with pytest.raises(RuntimeError, match="Runtime assertion failed"):
        compiled(input_ids=bad)


@pytest.mark.parametrize("cls", [SSRLMModel, SSRLMForMaskedLM])
def test_forward_kwargs_are_typed_transformers_kwargs(cls):
    hints = typing.get_type_hints(inspect.unwrap(cls.forward))
    assert hints["kwargs"] == Unpack[TransformersKwargs]


def test_fill_mask_pipeline_on_a_saved_folder(small_config, tmp_path):
    model = SSRLMForMaskedLM(small_config).eval()
    tokenizer = SSRLMTokenizer()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    fill_mask = transformers.pipeline("fill-mask", model=str(tmp_path), tokenizer=str(tmp_path))
    predictions = fill_mask("GGGAAA[MASK]CCC", targets=list("ACGT"), top_k=4)
    assert {prediction["token_str"] for prediction in predictions} == set("ACGT")
    for prediction in predictions:
        assert prediction["sequence"] == f"GGGAAA{prediction['token_str']}CCC"
    # The scores are the model's probabilities at the mask, for input ids written out by hand.
    input_ids = torch.tensor([tokenizer.convert_tokens_to_ids(["[CLS]", *"GGGAAA", "[MASK]", *"CCC", "[EOS]"])])
    with torch.no_grad():
        probabilities = model(input_ids=input_ids).logits[0, 7].softmax(-1)
    for prediction in predictions:
        assert prediction["score"] == pytest.approx(probabilities[prediction["token"]].item(), abs=1e-5)
