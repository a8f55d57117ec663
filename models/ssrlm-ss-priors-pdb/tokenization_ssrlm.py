"""Nucleotide tokenizer for SSR-LM.

One token per nucleotide over the DNA alphabet ``A C G T`` plus five special tokens. RNA input is
accepted as is: ``U`` is read as ``T`` and lower case as upper case, so the same model serves RNA and
DNA sequences. IUPAC ambiguity codes (``R Y S W K M B D H V N``) become the unknown token ``[UNK]``
(written back as ``N`` when decoding). Any other character is a user error and raises ``ValueError``
naming the character and its position: silently mapping e.g. a gap ``-`` or a digit to ``[UNK]`` would
shift every downstream base-pair index. Special and added tokens written in the text (``"GGA[MASK]CC"``,
as the ``fill-mask`` pipeline sends) are tokens, not characters: they are kept whole and map to their ids.

Validation and normalisation live in :func:`normalize_sequence`, the single place in the package that
knows the alphabet; the Rust ``tokenizers`` pipeline then only splits characters and maps them to ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

NUCLEOTIDES = "ACGT"
IUPAC_AMBIGUITY_CODES = "RYSWKMBDHVN"
SPECIAL_TOKENS = ("[PAD]", "[MASK]", "[CLS]", "[EOS]", "[UNK]")
VOCAB: dict[str, int] = {token: index for index, token in enumerate(SPECIAL_TOKENS + tuple(NUCLEOTIDES))}

_TRANSLATION = str.maketrans({"U": "T", **{code: "N" for code in IUPAC_AMBIGUITY_CODES}})
_INVALID = re.compile(f"[^{NUCLEOTIDES}U{IUPAC_AMBIGUITY_CODES}]")
_WHITESPACE = re.compile(r"\s+")
_NOT_A_LETTER = re.compile("[^A-Za-z]")
_NOT_RNA_LETTER = re.compile("[^ACGU]")


def to_rna(sequence: str) -> str:
    """``sequence`` in RNA spelling, as output files and ViennaRNA expect it: upper case, ``T`` → ``U``.

    Spelling only, no validation: modified-base letters of structure files pass through unchanged.
    """
    return sequence.upper().replace("T", "U")


def to_rna_letters(sequence: str) -> str:
    """``sequence`` over ``A C G U N``: upper case, ``T`` → ``U``, every other letter → ``N``.

    The alphabet of structure data and of ViennaRNA (which never pairs ``N``): IUPAC codes and
    modified-base letters (``P``, ``I``, ``X`` …) keep their position but not their identity. Raises
    ``ValueError`` naming the first non-letter and its position (a gap or digit would shift every
    pair index).
    """
    bad = _NOT_A_LETTER.search(sequence)
    if bad is not None:
        raise ValueError(f"invalid character {bad.group()!r} at position {bad.start()}: expected nucleotide letters")
    return _NOT_RNA_LETTER.sub("N", to_rna(sequence))


def normalize_sequence(sequence: str, tokens: Iterable[str] = ()) -> str:
    """Return ``sequence`` in the model alphabet: upper case, ``U`` → ``T``, IUPAC codes → ``N``.

    Whitespace (line breaks from pasted FASTA, spaces) is removed. Occurrences of ``tokens`` (the
    tokenizer passes its special and added tokens, e.g. ``[MASK]``) are kept verbatim so that they
    are encoded as those tokens; only the text between them is normalised. Raises ``ValueError``
    naming the first offending character and its 0-based position (counted after whitespace
    removal, kept tokens included) for any other character, e.g. alignment gaps or digits.
    """
    if not isinstance(sequence, str):
        raise TypeError(f"expected a nucleotide string, got {type(sequence).__name__}")
    pieces = _token_splitter(frozenset(tokens)).split(sequence)
    normalized = []
    position = 0
    # ``split`` with one capturing group alternates text (even indices) and kept tokens (odd indices).
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            piece = _WHITESPACE.sub("", piece).upper()
            bad = _INVALID.search(piece)
            if bad is not None:
                raise ValueError(
                    f"invalid character {bad.group()!r} at position {position + bad.start()} of the sequence; "
                    f"allowed: {NUCLEOTIDES}, U and the IUPAC codes {IUPAC_AMBIGUITY_CODES} (any case)"
                )
            piece = piece.translate(_TRANSLATION)
        normalized.append(piece)
        position += len(piece)
    return "".join(normalized)


@lru_cache(maxsize=32)
def _token_splitter(tokens: frozenset[str]) -> re.Pattern:
    """A pattern whose ``split`` isolates ``tokens`` (longest first, so ``[MASK]`` wins over a prefix)."""
    if not tokens:
        return re.compile(r"(?!)")  # never matches: the whole text is one piece
    alternatives = "|".join(re.escape(token) for token in sorted(tokens, key=len, reverse=True))
    return re.compile(f"({alternatives})")


class SSRLMTokenizer(PreTrainedTokenizerFast):
    """Fast single-nucleotide tokenizer (``[CLS] x_1 … x_L [EOS]``), constructible without any file.

    Example::

        >>> tok = SSRLMTokenizer()
        >>> tok("ACGU")["input_ids"]
        [2, 5, 6, 7, 8, 3]
        >>> tok("AC[MASK]GU")["input_ids"]
        [2, 5, 6, 1, 7, 8, 3]

    Special tokens: ``pad_token``, ``mask_token``, ``cls_token``, ``eos_token`` and ``unk_token`` may
    be any token of ``vocab`` (the default vocabulary, or one passed in); a token outside it raises
    ``ValueError``. Every sequence starts with ``cls_token``, which is therefore also the
    ``bos_token``: ``bos_token`` is accepted only when it equals ``cls_token`` (as in a saved
    ``tokenizer_config.json``) and otherwise raises ``ValueError``; set ``cls_token`` to change the
    start token.
    """

    vocab_files_names = {"tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab: dict[str, int] | None = None,
        pad_token: str = "[PAD]",
        mask_token: str = "[MASK]",
        cls_token: str = "[CLS]",
        eos_token: str = "[EOS]",
        unk_token: str = "[UNK]",
        bos_token: str | None = None,
        **kwargs,
    ):
        vocab = dict(VOCAB if vocab is None else vocab)
        pad_token, mask_token, cls_token, eos_token, unk_token = map(
            str, (pad_token, mask_token, cls_token, eos_token, unk_token)
        )
        _check_special_tokens(
            vocab,
            pad_token=pad_token,
            mask_token=mask_token,
            cls_token=cls_token,
            eos_token=eos_token,
            unk_token=unk_token,
        )
        if bos_token is not None and str(bos_token) != cls_token:
            raise ValueError(
                f"bos_token={str(bos_token)!r} differs from cls_token={cls_token!r}: SSRLMTokenizer starts every "
                "sequence with cls_token, which is also its bos_token; pass cls_token= to change the start token"
            )
        # The backend is always rebuilt from the vocabulary: drop what from_pretrained passes back in.
        for derived in ("tokenizer_object", "tokenizer_file"):
            kwargs.pop(derived, None)
        backend = Tokenizer(WordLevel(vocab, unk_token=unk_token))
        backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        backend.decoder = decoders.Sequence([decoders.Replace(unk_token, "N"), decoders.Fuse()])
        backend.post_processor = processors.TemplateProcessing(
            single=f"{cls_token} $A {eos_token}",
            pair=f"{cls_token} $A {eos_token} $B {eos_token}",
            special_tokens=[(cls_token, vocab[cls_token]), (eos_token, vocab[eos_token])],
        )
        self._tokenizer = backend
        super().__init__(
            tokenizer_object=backend,
            pad_token=pad_token,
            mask_token=mask_token,
            cls_token=cls_token,
            bos_token=cls_token,
            eos_token=eos_token,
            unk_token=unk_token,
            **kwargs,
        )

    def _encode_plus(self, text, text_pair=None, is_split_into_words: bool = False, **kwargs):
        """Validate and normalise every sequence before handing it to the Rust tokenizer.

        Special and added tokens in the text (``[MASK]`` from the ``fill-mask`` pipeline, tokens from
        ``add_tokens``) are left whole for the Rust tokenizer, which maps them to their ids.
        """
        if not is_split_into_words:
            tokens = frozenset(self.added_tokens_encoder)
            text = _normalize_input(text, tokens)
            text_pair = _normalize_input(text_pair, tokens)
        return super()._encode_plus(text, text_pair=text_pair, is_split_into_words=is_split_into_words, **kwargs)

    def _decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        """Decode to a nucleotide string; ``[UNK]`` is a base (``N``), so it survives ``skip_special_tokens``."""
        if skip_special_tokens:
            if isinstance(token_ids, int):
                token_ids = [token_ids]
            structural = set(self.all_special_ids) - {self.unk_token_id}
            token_ids = [token_id for token_id in token_ids if token_id not in structural]
        return super()._decode(token_ids, skip_special_tokens=False, **kwargs)


def _check_special_tokens(vocab: dict[str, int], **special_tokens: str) -> None:
    """Raise ``ValueError`` naming the first special-token argument whose token is not in ``vocab``."""
    for argument, token in special_tokens.items():
        if token not in vocab:
            raise ValueError(f"{argument}={token!r} is not in the vocabulary; choose one of {sorted(vocab)}")


def _normalize_input(text, tokens: Iterable[str]):
    """Apply :func:`normalize_sequence` to a sequence or a batch of sequences (``None`` passes through)."""
    if text is None:
        return None
    if isinstance(text, str):
        return normalize_sequence(text, tokens)
    normalized = []
    for index, sequence in enumerate(text):
        try:
            normalized.append(normalize_sequence(sequence, tokens))
        except ValueError as error:
            raise ValueError(f"sequence {index} of the batch: {error}") from None
    return normalized


__all__ = ["SSRLMTokenizer", "normalize_sequence", "to_rna", "to_rna_letters", "VOCAB"]
