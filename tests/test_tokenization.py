"""SSRLMTokenizer: alphabet handling, errors naming the bad character, batching, decoding, saving."""

from __future__ import annotations

import re

import pytest

from modeling_ssrlm import SSRLMTokenizer, normalize_sequence
from modeling_ssrlm.tokenization_ssrlm import VOCAB

A, C, G, T, UNK, CLS, EOS, PAD, MASK = (
    VOCAB[k] for k in ("A", "C", "G", "T", "[UNK]", "[CLS]", "[EOS]", "[PAD]", "[MASK]")
)


def test_vocabulary_layout():
    assert VOCAB == {"[PAD]": 0, "[MASK]": 1, "[CLS]": 2, "[EOS]": 3, "[UNK]": 4, "A": 5, "C": 6, "G": 7, "T": 8}


def test_constructible_without_files_and_adds_cls_eos(tokenizer):
    assert tokenizer("ACGT")["input_ids"] == [CLS, A, C, G, T, EOS]
    assert tokenizer("ACGT", add_special_tokens=False)["input_ids"] == [A, C, G, T]


def test_u_is_read_as_t_and_lower_case_as_upper(tokenizer):
    assert tokenizer("acgu")["input_ids"] == tokenizer("ACGT")["input_ids"]


@pytest.mark.parametrize("code", list("RYSWKMBDHVNrn"))
def test_iupac_ambiguity_codes_become_unknown(tokenizer, code):
    assert tokenizer(f"A{code}C")["input_ids"] == [CLS, A, UNK, C, EOS]


@pytest.mark.parametrize(("sequence", "char", "position"), [("AC-GU", "-", 2), ("ACGUX", "X", 4), ("1ACG", "1", 0)])
def test_bad_characters_raise_naming_character_and_position(tokenizer, sequence, char, position):
    with pytest.raises(ValueError, match=rf"invalid character '{char}' at position {position}"):
        tokenizer(sequence)


def test_bad_character_in_a_batch_names_the_sequence(tokenizer):
    with pytest.raises(ValueError, match=r"sequence 1 of the batch: invalid character '\*' at position 3"):
        tokenizer(["ACGU", "GGC*A"])


def test_mask_token_inside_text_is_one_token(tokenizer):
    assert tokenizer("AC[MASK]GU")["input_ids"] == [CLS, A, C, MASK, G, T, EOS]
    assert tokenizer(["[MASK]ac gu", "G[MASK][MASK]"], padding=True)["input_ids"] == [
        [CLS, MASK, A, C, G, T, EOS],
        [CLS, G, MASK, MASK, EOS, PAD, PAD],
    ]
    assert tokenizer("A[UNK][PAD]C", add_special_tokens=False)["input_ids"] == [A, UNK, PAD, C]


def test_added_token_inside_text_becomes_its_id(tmp_path, tokenizer):
    tokenizer.add_tokens(["<x>"])
    x = tokenizer.convert_tokens_to_ids("<x>")
    assert x == len(VOCAB)
    assert tokenizer("ac<x>g")["input_ids"] == [CLS, A, C, x, G, EOS]
    tokenizer.save_pretrained(tmp_path)
    assert SSRLMTokenizer.from_pretrained(tmp_path)("<x>[MASK]u")["input_ids"] == [CLS, x, MASK, T, EOS]


@pytest.mark.parametrize(
    ("sequence", "char", "position"),
    [("AC[MASK]G-U", "-", 9), ("[mask]A", "[", 0), ("A [MASK]\nG*", "*", 8), ("AC<x>G", "<", 2)],
)
def test_bad_characters_around_tokens_are_located_in_the_text(tokenizer, sequence, char, position):
    """Tokens are case-sensitive and only known tokens are kept; positions count them by their characters."""
    with pytest.raises(ValueError, match=rf"invalid character '{re.escape(char)}' at position {position}"):
        tokenizer(sequence)


def test_whitespace_is_ignored():
    assert normalize_sequence(" ac gu\nn ") == "ACGTN"


def test_batch_encoding_pads_to_longest(tokenizer):
    batch = tokenizer(["ACG", "A"], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist() == [[CLS, A, C, G, EOS], [CLS, A, EOS, PAD, PAD]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]


def test_decode_round_trip_keeps_unknown_as_n(tokenizer):
    ids = tokenizer(["ACGUN", "GRA"], padding=True)["input_ids"]
    assert tokenizer.batch_decode(ids, skip_special_tokens=True) == ["ACGTN", "GNA"]


def test_special_token_ids(tokenizer):
    assert (tokenizer.pad_token_id, tokenizer.mask_token_id, tokenizer.cls_token_id, tokenizer.eos_token_id) == (0, 1, 2, 3)
    assert tokenizer.unk_token_id == UNK and len(tokenizer) == 9


def test_save_and_auto_load_round_trip(tmp_path, tokenizer, monkeypatch):
    from transformers import AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, SSRLMTokenizer)
    assert loaded(["ACGU", "gn"], padding=True)["input_ids"] == tokenizer(["ACGU", "gn"], padding=True)["input_ids"]
    with pytest.raises(ValueError, match="invalid character"):
        loaded("AC.G")


def test_bos_token_is_the_cls_token(tmp_path):
    tokenizer = SSRLMTokenizer(bos_token="[CLS]")
    assert tokenizer.bos_token == tokenizer.cls_token == "[CLS]" and tokenizer.bos_token_id == CLS
    tokenizer.save_pretrained(tmp_path)
    assert SSRLMTokenizer.from_pretrained(tmp_path).bos_token == "[CLS]"
    with pytest.raises(ValueError, match=r"bos_token='\[MASK\]' differs from cls_token='\[CLS\]'"):
        SSRLMTokenizer(bos_token="[MASK]")


def test_special_token_in_the_vocabulary_is_honoured(tmp_path):
    vocabulary = {**VOCAB, "<eos>": len(VOCAB)}
    tokenizer = SSRLMTokenizer(vocab=vocabulary, eos_token="<eos>")
    assert tokenizer.eos_token_id == len(VOCAB)
    assert tokenizer("AC")["input_ids"] == [CLS, A, C, len(VOCAB)]
    tokenizer.save_pretrained(tmp_path)
    loaded = SSRLMTokenizer.from_pretrained(tmp_path)
    assert loaded.eos_token == "<eos>" and loaded("AC")["input_ids"] == [CLS, A, C, len(VOCAB)]


@pytest.mark.parametrize("argument", ["eos_token", "cls_token", "pad_token", "mask_token", "unk_token"])
def test_special_token_outside_the_vocabulary_is_refused(argument):
    with pytest.raises(ValueError, match=rf"{argument}='</s>' is not in the vocabulary; choose one of \['A', 'C'"):
        SSRLMTokenizer(**{argument: "</s>"})
