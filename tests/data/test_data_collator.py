"""Tests for modeling_ssrlm.data.mlm_collator.DataCollatorForSSM: labels, strategies, padding, packing."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from modeling_ssrlm.data.packing import pack_rows
from modeling_ssrlm.data.mlm_collator import MASK_STRATEGY_IDS, DataCollatorForSSM
from modeling_ssrlm.data.masking import crop_structure, masking_budget
from modeling_ssrlm.secondary_structure import parse_dot_bracket

PAD, MASK, CLS, EOS, UNK = 0, 1, 2, 3, 4
SM, SSM, MLM = MASK_STRATEGY_IDS["sm"], MASK_STRATEGY_IDS["ssm"], MASK_STRATEGY_IDS["mlm"]

HAIRPIN = ("GGGGAAAACCCC", "((((....))))")
FEATURES = [
    {"sequence": "GGGAAACCCUUUGGGAAACCC", "structure": "(((...)))...(((...)))", "is_ncrna": True},
    {"sequence": "AUGGCUAGCUAGGCUAAUCGAUCGAUGCUAGCUAGCAUGCAUCGAUCG", "structure": "", "is_ncrna": False},
    {"sequence": "ACGNNACGUACGUNACGU", "is_ncrna": False},
    {"sequence": "GGGGAAAACCCC", "structure": "((((....))))", "is_ncrna": True},
    {"sequence": "CGAUCGAUCG"},
]


def original_ids(tokenizer, feature) -> np.ndarray:
    return np.asarray(tokenizer(feature["sequence"])["input_ids"])


def collate(tokenizer, features, **kwargs) -> dict[str, torch.Tensor]:
    kwargs.setdefault("seed", 0)
    return DataCollatorForSSM(tokenizer, **kwargs)(features)


def segments(batch) -> list[tuple[int, int, int]]:
    """``(row, start, stop)`` of every position_ids segment of a packed batch, in order."""
    found = []
    for row, positions in enumerate(batch["position_ids"].tolist()):
        starts = [index for index, position in enumerate(positions) if position == 0] + [len(positions)]
        found += [(row, start, stop) for start, stop in zip(starts, starts[1:])]
    return found


def assert_label_semantics(batch, originals: list[np.ndarray], spans: list[tuple[int, int, int]]) -> None:
    """Labels hold the original id exactly at ``[MASK]`` positions; the input is unchanged elsewhere."""
    for original, (row, start, stop) in zip(originals, spans):
        inputs = batch["input_ids"][row, start:stop].numpy()
        labels = batch["labels"][row, start:stop].numpy()
        strategy = batch["masking_strategy"][row, start:stop].numpy()
        masked = labels != -100
        assert np.array_equal(labels[masked], original[masked])
        assert np.all(inputs[masked] == MASK)
        assert np.array_equal(inputs[~masked], original[~masked])
        assert np.array_equal(strategy > 0, masked)
        assert not masked[0] and not masked[-1]  # [CLS] and [EOS]
        assert not np.any(masked & (original == UNK))
        assert masked.any() or np.all(original[1:-1] == UNK)


# --------------------------------------------------------------------------------------------
# Masking semantics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("masking", ["ssm", "sm", "mlm"])
def test_labels_are_the_original_ids_exactly_at_masked_positions(tokenizer, masking):
    batch = collate(tokenizer, FEATURES, masking=masking, mlm_probability=0.3)
    originals = [original_ids(tokenizer, feature) for feature in FEATURES]
    assert_label_semantics(batch, originals, [(row, 0, len(ids)) for row, ids in enumerate(originals)])


def test_unknown_bases_and_special_tokens_are_never_masked(tokenizer):
    batch = collate(tokenizer, [{"sequence": "NNNNNNNNNN"}, {"sequence": "ACGTACGTACGT"}], mlm_probability=1.0)
    assert batch["labels"][0].eq(-100).all()  # all N: nothing to predict
    assert batch["labels"][1, 1:13].tolist() == [5, 6, 7, 8] * 3  # rate 1: every nucleotide
    assert batch["labels"][1, [0, 13]].tolist() == [-100, -100]


def test_mlm_masks_exactly_the_budget_per_sequence(tokenizer):
    batch = collate(tokenizer, FEATURES, masking="mlm")
    counts = (batch["labels"] != -100).sum(dim=1).tolist()
    lengths = [len(feature["sequence"]) for feature in FEATURES]
    unknown = [feature["sequence"].count("N") for feature in FEATURES]
    # Positions drawn on an N stay unmasked, so N-containing rows may fall short of the budget.
    for count, length, n_count in zip(counts, lengths, unknown):
        assert masking_budget(length, 0.15) - n_count <= count <= masking_budget(length, 0.15)


@pytest.mark.parametrize(
    ("masking", "ssm_probability", "expected"),
    [
        ("ssm", 1.0, [SSM, SM, SM, SSM, SM]),
        ("ssm", 0.0, [SM] * 5),
        ("sm", 1.0, [SM] * 5),
        ("mlm", 1.0, [MLM] * 5),
    ],
)
def test_strategy_ids_follow_the_mixture(tokenizer, masking, ssm_probability, expected):
    # Sample 4 has no structure and sample 2 is non-ncRNA: only samples 0 and 3 may get SSM.
    batch = collate(tokenizer, FEATURES, masking=masking, ssm_probability=ssm_probability)
    for row, strategy_id in enumerate(expected):
        used = set(batch["masking_strategy"][row].tolist()) - {0}
        assert used == {strategy_id}


def test_ssm_probability_mixes_ssm_and_sm_for_ncrna(tokenizer):
    batch = collate(tokenizer, [{"sequence": HAIRPIN[0], "structure": HAIRPIN[1]}] * 400, ssm_probability=0.5)
    ssm_rows = (batch["masking_strategy"] == SSM).any(dim=1).float().mean().item()
    assert 0.4 < ssm_rows < 0.6


def test_ssm_masks_whole_helix_strands(tokenizer):
    # Rate 0.25 of 12 = 3 positions: a strand (4) or loop; never a partial strand, never both strands.
    batch = collate(tokenizer, [{"sequence": HAIRPIN[0], "structure": HAIRPIN[1]}] * 100,
                    ssm_probability=1.0, mlm_probability=0.25)
    masked = (batch["labels"][:, 1:13] != -100).numpy()
    assert np.all(masked[:, :4].all(axis=1) | ~masked[:, :4].any(axis=1))
    assert np.all(masked[:, 8:].all(axis=1) | ~masked[:, 8:].any(axis=1))
    assert not np.any(masked[:, 0] & masked[:, 8])


@pytest.mark.parametrize(
    ("is_ncrna", "expected"), [(None, SSM), (True, SSM), (np.bool_(True), SSM), (np.bool_(False), SM)]
)
def test_is_ncrna_defaults_to_true_for_samples_with_a_structure(tokenizer, is_ncrna, expected):
    feature = {"sequence": HAIRPIN[0], "structure": HAIRPIN[1], "is_ncrna": is_ncrna}
    batch = collate(tokenizer, [feature], ssm_probability=1.0)
    assert set(batch["masking_strategy"].flatten().tolist()) == {0, expected}


def test_pretokenized_input_ids_give_the_same_batch_as_raw_sequences(tokenizer):
    raw = collate(tokenizer, FEATURES)
    tokenized = []
    for feature in FEATURES:
        without_sequence = {key: value for key, value in feature.items() if key != "sequence"}
        tokenized.append({**without_sequence, "input_ids": original_ids(tokenizer, feature)})
    for key, value in collate(tokenizer, tokenized).items():
        assert torch.equal(value, raw[key])


# --------------------------------------------------------------------------------------------
# Cropping
# --------------------------------------------------------------------------------------------


def test_long_sequences_are_cropped_to_a_window_with_its_structure(tokenizer):
    sequence = "GGGGGAAAACCCCC" * 10  # 140 nt, 10 hairpins
    structure = "(((((....)))))" * 10
    batch = collate(tokenizer, [{"sequence": sequence, "structure": structure}], max_length=34, ssm_probability=1.0)
    inputs, labels = batch["input_ids"][0].numpy(), batch["labels"][0].numpy()
    assert len(inputs) == 34 and inputs[0] == CLS and inputs[-1] == EOS
    restored = np.where(labels != -100, labels, inputs)[1:-1]
    full = original_ids(tokenizer, {"sequence": sequence})[1:-1]
    starts = [start for start in range(len(full) - 31) if np.array_equal(full[start : start + 32], restored)]
    assert starts
    # SSM ran on the cropped structure: whole strands of the window's own helices only.
    window = crop_structure(structure, starts[0], starts[0] + 32)
    masked = labels[1:-1] != -100
    partner = {i: j for pair in parse_dot_bracket(window) for i, j in (pair, pair[::-1])}
    assert not any(masked[i] and masked[j] for i, j in partner.items())


def test_max_length_defaults_to_the_pack_length_when_packing(tokenizer):
    assert DataCollatorForSSM(tokenizer).max_length == 1024
    collator = DataCollatorForSSM(tokenizer, pack_to_length=32, seed=0)
    assert collator.max_length == 32
    # A 100-nt sequence is cropped to one full row instead of failing to fit.
    batch = collator([{"sequence": "ACGU" * 25}, {"sequence": "GGA"}])
    assert batch["input_ids"].shape == (2, 32)
    assert batch["input_ids"][0, [0, 31]].tolist() == [CLS, EOS]
    assert batch["position_ids"][0].tolist() == list(range(32))
    assert DataCollatorForSSM(tokenizer, pack_to_length=32, max_length=16).max_length == 16


# --------------------------------------------------------------------------------------------
# Padding and packing
# --------------------------------------------------------------------------------------------


def test_padding_to_the_longest_with_attention_mask(tokenizer):
    batch = collate(tokenizer, FEATURES, pad_to_multiple_of=8)
    lengths = [len(feature["sequence"]) + 2 for feature in FEATURES]
    assert set(batch) == {"input_ids", "labels", "masking_strategy", "attention_mask"}
    assert batch["input_ids"].shape == (5, 56)  # longest 50, rounded up to 56
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths
    padding = batch["attention_mask"] == 0
    assert batch["input_ids"][padding].eq(PAD).all() and batch["labels"][padding].eq(-100).all()
    assert batch["masking_strategy"][padding].eq(0).all()
    assert all(value.dtype == torch.long for value in batch.values())
    assert collate(tokenizer, FEATURES)["input_ids"].shape == (5, 50)


def packed_layout(lengths: list[int], row_length: int) -> list[tuple[int, int, int]]:
    """Reference layout ``(row, start, stop)`` of each sample: the rows of ``pack_rows`` (tested on its
    own in test_train_mlm.py), samples placed in input order within a row."""
    order, offsets = pack_rows(np.array(lengths), row_length)
    spans: list[tuple[int, int, int] | None] = [None] * len(lengths)
    for row in range(len(offsets) - 1):
        start = 0
        for index in order[offsets[row] : offsets[row + 1]]:
            spans[index] = (row, start, start + lengths[index])
            start += lengths[index]
    return spans


def test_packing_rows_hold_whole_sequences(tokenizer):
    features = FEATURES * 3
    batch = collate(tokenizer, features, pack_to_length=64, max_length=64)
    assert set(batch) == {"input_ids", "labels", "masking_strategy", "position_ids"}
    originals = [original_ids(tokenizer, feature) for feature in features]
    expected = packed_layout([len(ids) for ids in originals], 64)
    assert batch["input_ids"].shape == (max(row for row, _, _ in expected) + 1, 64)
    assert_label_semantics(batch, originals, expected)
    row_ends = {row: max(stop for other, _, stop in expected if other == row) for row, _, _ in expected}
    tails = [(row, end, 64) for row, end in row_ends.items() if end < 64]
    assert sorted(segments(batch)) == sorted(expected + tails)
    for row, start, stop in segments(batch):
        assert batch["position_ids"][row, start:stop].tolist() == list(range(stop - start))
    for row, start, stop in tails:  # padding only as one tail segment per row
        assert batch["input_ids"][row, start:].eq(PAD).all()
        assert batch["labels"][row, start:].eq(-100).all() and batch["masking_strategy"][row, start:].eq(0).all()
    assert (batch["input_ids"] != PAD).sum().item() == sum(len(ids) for ids in originals)


@pytest.mark.parametrize(
    ("sequences", "positions", "restored"),
    [
        (  # 6, 4, 9 tokens: best-fit decreasing opens row 0 with the 9, then puts 6 + 4 in row 1
            ["ACGT", "AC", "ACGTACG"],
            [[0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2], [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 1]],
            [[2, 5, 6, 7, 8, 5, 6, 7, 3, 0, 0, 0], [2, 5, 6, 7, 8, 3, 2, 5, 6, 3, 0, 0]],
        ),
        (  # 9, 6, 3, 4 tokens: the 4 fits best beside the 6, the 3 fills row 0 exactly
            ["ACGTACG", "ACGT", "A", "AC"],
            [[0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2], [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 1]],
            [[2, 5, 6, 7, 8, 5, 6, 7, 3, 2, 5, 3], [2, 5, 6, 7, 8, 3, 2, 5, 6, 3, 0, 0]],
        ),
    ],
)
def test_packing_hand_cases(tokenizer, sequences, positions, restored):
    batch = collate(tokenizer, [{"sequence": sequence} for sequence in sequences], pack_to_length=12, max_length=12)
    assert batch["position_ids"].tolist() == positions
    assert torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"]).tolist() == restored


def test_packed_batch_feeds_the_masked_lm(tokenizer, tiny_config):
    from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM

    batch = collate(tokenizer, FEATURES * 2, pack_to_length=64, max_length=64)
    batch.pop("masking_strategy")
    loss = SSRLMForMaskedLM(tiny_config).eval()(**batch).loss
    assert torch.isfinite(loss)


# --------------------------------------------------------------------------------------------
# Randomness and DataLoader use
# --------------------------------------------------------------------------------------------


def test_same_seed_same_batch_and_different_seeds_differ(tokenizer):
    first, second = collate(tokenizer, FEATURES * 4, seed=5), collate(tokenizer, FEATURES * 4, seed=5)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not torch.equal(first["labels"], collate(tokenizer, FEATURES * 4, seed=6)["labels"])
    collator = DataCollatorForSSM(tokenizer, seed=5)
    assert not torch.equal(collator(FEATURES * 4)["labels"], collator(FEATURES * 4)["labels"])  # stream advances


def test_works_in_a_dataloader_over_a_datasets_dataset(tokenizer):
    dataset = datasets.Dataset.from_list([{"structure": "", **feature} for feature in FEATURES] * 2)
    collator = DataCollatorForSSM(tokenizer, pack_to_length=128, max_length=128, seed=0)
    batches = list(torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=collator))
    assert len(batches) == 3
    real_tokens = sum((batch["input_ids"] != PAD).sum().item() for batch in batches)
    assert real_tokens == 2 * sum(len(feature["sequence"]) + 2 for feature in FEATURES)


def test_dataloader_workers_draw_different_masks_reproducibly(tokenizer):
    features = [{"sequence": "ACGU" * 25}] * 4

    def worker_labels() -> list[torch.Tensor]:
        torch.manual_seed(0)
        loader = torch.utils.data.DataLoader(
            features, batch_size=2, num_workers=2, collate_fn=DataCollatorForSSM(tokenizer, seed=0)
        )
        return [batch["labels"] for batch in loader]

    first, second = worker_labels(), worker_labels()
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], first[1])  # batches 0 and 1 come from different workers


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"masking": "bert"}, "unknown masking strategy"),
        ({"mlm_probability": 0.0}, "mlm_probability"),
        ({"ssm_probability": 1.5}, "ssm_probability"),
        ({"span_length": 0}, "span_length"),
        ({"max_length": 2}, "max_length"),
        ({"pack_to_length": 512, "max_length": 1024}, r"max_length \(1024\) must not exceed pack_to_length \(512\)"),
        ({"pack_to_length": 1024, "pad_to_multiple_of": 8}, "pad_to_multiple_of"),
        ({"pad_to_multiple_of": 0}, "pad_to_multiple_of"),
    ],
)
def test_bad_arguments_are_rejected(tokenizer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataCollatorForSSM(tokenizer, **kwargs)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ([{"sequence": "ACGU"}, {"sequence": "ACGU", "structure": "(..)."}], "sample 1: the structure has 5"),
        ([{"structure": "...."}], "sample 0 has neither"),
        ([{"input_ids": [5, 6, 7, 3]}], "sample 0: input_ids must start with"),
        ([{"input_ids": [2, 5, 99, 3]}], r"sample 0: input_ids must lie in \[0, 9\)"),
        ([{"sequence": "AC-GU"}], "invalid character '-'"),
        ([], "empty"),
    ],
)
def test_bad_features_are_rejected(tokenizer, features, message):
    with pytest.raises(ValueError, match=message):
        collate(tokenizer, features)


def test_malformed_structure_is_rejected_when_ssm_parses_it(tokenizer):
    with pytest.raises(ValueError, match="unmatched closing"):
        collate(tokenizer, [{"sequence": "ACGU", "structure": "(.))"}], ssm_probability=1.0)
