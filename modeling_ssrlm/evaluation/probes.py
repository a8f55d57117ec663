"""Probes of a pre-trained SSR-LM encoder, cheap enough to run on every seed of the masking ablation.

Each probe returns :class:`~modeling_ssrlm.evaluation.comparison.UnitScores`: one value and one
weight per *unit* (a test sequence, or an Rfam family for the span probe), so that arms can be
compared unit by unit (:mod:`modeling_ssrlm.evaluation.comparison`).

1. **Masked-span recovery** (:func:`span_recovery_instances`, :func:`span_recovery`): on sequences
   with known structures (the family-disjoint ``rfam_ss/valid`` split: Rfam families absent from
   pre-training, consensus structures projected onto each member), mask one whole *helix strand*
   (a maximal run of stacked paired positions, ``i, i+1, …`` paired with ``j, j−1, …``) while its
   partner strand stays visible, and, as the control, an *unpaired* window of the same length in the
   same sequence. One span per forward pass; each masked position is predicted as the argmax over
   the four nucleotides. A model that uses the visible partner strand recovers helix strands better
   than loop windows; one that learned base frequencies only does not. Helix strands are GC-rich
   and loops are not, so both scores also reward a model that merely favours G or C at masked
   positions; :func:`partner_swap` is the control for that: the same helix strands, masked again,
   with every base of the visible partner strand mutated. A model that reads the partner moves its
   prediction towards a base that pairs with the *new* partner; a model that does not (whatever
   bases it favours) does not move at all, so it scores exactly 0.
2. **Unsupervised attention contacts** (:func:`contact_probe`): the ESM-style L1 logistic regression
   over APC-corrected attention maps (:mod:`modeling_ssrlm.modeling_ssrlm_contact`), fitted on a few
   labelled sequences, scored by P@L per test sequence.
3. **Frozen-backbone pair probe** (:func:`pair_probe_scores`): strict F1 per test sequence of a pair
   head trained with the encoder frozen (``finetune_ss.py --freeze_backbone``); prior channels, if
   the head has them, are read from the on-disk cache that training filled.

Also :func:`heldout_masked_lm_loss`: the masked-LM cross-entropy of any encoder on a fixed set of
sequences with *fixed* token masks (the same positions for every model, whatever masking it was
trained with), next to the entropy of the masked bases' own frequencies (the best a model that
knows base frequencies only can do).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..secondary_structure import Pair
from ..tokenization_ssrlm import NUCLEOTIDES, VOCAB, normalize_sequence
from .comparison import UnitScores
from .metrics import pair_scores, precision_at_l

__all__ = [
    "SpanInstance",
    "SpanRecovery",
    "contact_probe",
    "heldout_masked_lm_loss",
    "helix_strands",
    "pair_probe_scores",
    "partner_swap",
    "span_recovery",
    "span_recovery_instances",
    "unpaired_windows",
]

#: Token ids of A, C, G, T: the four classes the span probe predicts among.
NUCLEOTIDE_IDS = tuple(VOCAB[base] for base in NUCLEOTIDES)
#: Canonical pairs (AU, GC, GU in the model alphabet, T for U).
CANONICAL = {("A", "T"), ("T", "A"), ("G", "C"), ("C", "G"), ("G", "T"), ("T", "G")}
#: ``PAIRS_WITH[b]``: 0/1 over A, C, G, T, 1 where that base pairs canonically with ``b``.
PAIRS_WITH = {b: np.array([float((x, b) in CANONICAL) for x in NUCLEOTIDES]) for b in NUCLEOTIDES}


def _partners(pairs: Sequence[Pair], length: int) -> np.ndarray:
    partner = np.full(length, -1, dtype=np.int64)
    for i, j in pairs:
        partner[i], partner[j] = j, i
    return partner


def helix_strands(pairs: Sequence[Pair], length: int, min_length: int = 3, max_length: int = 8) -> list[tuple[int, int]]:
    """Helix strands ``[start, stop)`` of ``min_length``–``max_length`` nt: maximal runs of stacked pairs.

    A strand is a maximal run of consecutive positions ``t`` that are all paired, all on the same side
    of their partners, with partners consecutive and descending (``p(t+1) = p(t) − 1``): a loop ends
    the run, and a bulge ends it on both sides (the partners jump). Both strands of a helix are listed
    (the 5′ and the 3′ one), so the partner of every strand is one contiguous strand. Runs longer
    than ``max_length`` are left out rather than cut, so a masked strand is always a whole strand.
    A pair that touches a base in several pairs (a base multiplet) belongs to no strand.
    """
    partner = _partners(pairs, length)
    multiplet = np.zeros(length, dtype=bool)
    seen: dict[int, int] = defaultdict(int)
    for i, j in pairs:
        seen[i] += 1
        seen[j] += 1
    for position, count in seen.items():
        multiplet[position] = count > 1
    usable = (partner >= 0) & ~multiplet
    usable[usable] &= ~multiplet[partner[usable]]  # a pair touching a multiplet is no helix pair
    strands = []
    start = None
    for t in range(length + 1):
        paired = t < length and bool(usable[t])
        continues = (
            paired
            and start is not None
            and (partner[t] > t) == (partner[t - 1] > t - 1)
            and partner[t] == partner[t - 1] - 1
        )
        if continues:
            continue
        if start is not None and min_length <= t - start <= max_length:
            strands.append((start, t))
        start = t if paired else None
    return strands


def unpaired_windows(pairs: Sequence[Pair], length: int, size: int) -> list[int]:
    """Start positions of every window of ``size`` consecutive unpaired positions."""
    unpaired = _partners(pairs, length) < 0
    run = 0
    starts = []
    for t in range(length):
        run = run + 1 if unpaired[t] else 0
        if run >= size:
            starts.append(t - size + 1)
    return starts


@dataclass(frozen=True)
class SpanInstance:
    """One masked span: record index, its unit (family), ``kind`` (``helix``/``unpaired``), ``[start, stop)``."""

    record: int
    unit: str
    kind: str
    start: int
    stop: int


def span_recovery_instances(
    sequences: Sequence[str],
    pairs: Sequence[Sequence[Pair]],
    units: Sequence[str],
    min_length: int = 3,
    max_length: int = 8,
    per_record: int = 1,
    max_records_per_unit: int | None = 20,
    seed: int = 0,
) -> list[SpanInstance]:
    """Matched helix/unpaired span pairs for :func:`span_recovery`, the same for every model.

    Per record (at most ``max_records_per_unit`` per unit, drawn with ``seed``, so that a large
    family does not dominate): up to ``per_record`` helix strands (:func:`helix_strands`, drawn at
    random) that have an unpaired window of the *same length* in the same record; each gives a
    ``helix`` instance and an ``unpaired`` instance (a window drawn at random among the unpaired
    windows of that length). Helix strands without such a window are not used, so the two kinds
    have equal numbers of nucleotides per record and per unit.
    """
    if not len(sequences) == len(pairs) == len(units):
        raise ValueError("sequences, pairs and units must have the same length")
    rng = np.random.default_rng(seed)
    by_unit: dict[str, list[int]] = defaultdict(list)
    for index, unit in enumerate(units):
        by_unit[unit].append(index)
    chosen = []
    for unit in sorted(by_unit):
        records = by_unit[unit]
        if max_records_per_unit is not None and len(records) > max_records_per_unit:
            records = sorted(rng.choice(records, size=max_records_per_unit, replace=False).tolist())
        chosen.extend(records)
    instances = []
    for index in sorted(chosen):
        length = len(sequences[index])
        strands = helix_strands(pairs[index], length, min_length, max_length)
        order = rng.permutation(len(strands)).tolist()
        made = 0
        for position in order:
            if made >= per_record:
                break
            start, stop = strands[position]
            windows = unpaired_windows(pairs[index], length, stop - start)
            if not windows:
                continue
            window = int(windows[rng.integers(len(windows))])
            instances.append(SpanInstance(index, units[index], "helix", start, stop))
            instances.append(SpanInstance(index, units[index], "unpaired", window, window + stop - start))
            made += 1
    return instances


@dataclass
class SpanRecovery:
    """Per-instance results of :func:`span_recovery` and their per-unit summaries.

    ``correct[k]`` / ``log_likelihood[k]``: number of correctly recovered nucleotides and summed
    log-probability (over A, C, G, T) of the true bases of instance ``k``; ``consistent[k]``: for a
    helix instance, positions whose predicted base pairs canonically (AU, GC, GU) with its visible
    partner (``nan`` for unpaired instances).
    """

    instances: list[SpanInstance]
    correct: np.ndarray
    log_likelihood: np.ndarray
    consistent: np.ndarray

    def _per_unit(self, kind: str, values: np.ndarray) -> tuple[dict[str, float], dict[str, int]]:
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for instance, value in zip(self.instances, values):
            if instance.kind == kind:
                sums[instance.unit] += float(value)
                counts[instance.unit] += instance.stop - instance.start
        return sums, counts

    def unit_scores(self) -> dict[str, UnitScores]:
        """Per-unit scores, each unit weighted by its masked nucleotides (so the weighted mean is pooled):

        ``helix_accuracy``, ``unpaired_accuracy``, ``helix_minus_unpaired`` (equal nucleotide counts
        per unit by construction), ``helix_pair_consistency``, ``helix_nll`` / ``unpaired_nll``
        (nats per nucleotide).
        """
        helix, helix_n = self._per_unit("helix", self.correct)
        loop, loop_n = self._per_unit("unpaired", self.correct)
        consistent, _ = self._per_unit("helix", self.consistent)
        helix_ll, _ = self._per_unit("helix", self.log_likelihood)
        loop_ll, _ = self._per_unit("unpaired", self.log_likelihood)
        units = sorted(helix_n)
        weights = np.array([helix_n[u] for u in units], dtype=float)
        if any(helix_n[u] != loop_n.get(u) for u in units):
            raise ValueError("helix and unpaired instances must cover equal nucleotides per unit")

        def scores(values: Mapping[str, float], sign: float = 1.0) -> UnitScores:
            return UnitScores(units, np.array([sign * values[u] / helix_n[u] for u in units]), weights)

        return {
            "helix_accuracy": scores(helix),
            "unpaired_accuracy": scores(loop),
            "helix_minus_unpaired": UnitScores(
                units, np.array([(helix[u] - loop[u]) / helix_n[u] for u in units]), weights
            ),
            "helix_pair_consistency": scores(consistent),
            "helix_nll": scores(helix_ll, -1.0),
            "unpaired_nll": scores(loop_ll, -1.0),
        }

    def summary(self) -> dict[str, float]:
        """Pooled values of :meth:`unit_scores` plus instance and unit counts."""
        result = {name: scores.mean() for name, scores in self.unit_scores().items()}
        result["instances"] = len(self.instances)
        result["units"] = len({instance.unit for instance in self.instances})
        return result


def _encode(sequence: str) -> list[int]:
    return [VOCAB["[CLS]"], *(VOCAB.get(base, VOCAB["[UNK]"]) for base in sequence), VOCAB["[EOS]"]]


def _batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices sorted by length, in batches of at most ``batch_tokens`` padded tokens (``[CLS]``/``[EOS]`` counted).

    A sequence longer than ``batch_tokens`` runs alone.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda index: lengths[index]):
        width = lengths[index] + 2  # ascending order: the newest member is the widest
        if current and width * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


@torch.inference_mode()
def _masked_log_probabilities(
    model, token_rows: Sequence[list[int]], masks: Sequence[np.ndarray], batch_tokens: int
) -> list[np.ndarray]:
    """Per row, ``(masked positions, 4)`` log-probabilities over A, C, G, T at its masked positions.

    ``token_rows`` are ``[CLS] x [EOS]`` ids, ``masks`` boolean over the nucleotides; masked ids are
    replaced by ``[MASK]``. Rows are right-padded and run in length-sorted batches; ``model`` is any
    masked-LM returning ``.logits`` ``(batch, tokens, vocab)`` from ``input_ids`` and ``attention_mask``.
    """
    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:  # a parameter-free stand-in (tests)
        device = torch.device("cpu")
    results: list[np.ndarray | None] = [None] * len(token_rows)
    columns = torch.tensor(NUCLEOTIDE_IDS)
    for batch in _batches([len(row) - 2 for row in token_rows], batch_tokens):
        width = max(len(token_rows[index]) for index in batch)
        input_ids = torch.full((len(batch), width), VOCAB["[PAD]"], dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, index in enumerate(batch):
            ids = torch.tensor(token_rows[index])
            positions = torch.from_numpy(np.flatnonzero(masks[index]) + 1)
            ids[positions] = VOCAB["[MASK]"]
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        log_probabilities = torch.log_softmax(logits.float().cpu()[..., columns], dim=-1)
        for row, index in enumerate(batch):
            positions = torch.from_numpy(np.flatnonzero(masks[index]) + 1)
            results[index] = log_probabilities[row, positions].numpy()
    return results


def span_recovery(
    model,
    sequences: Sequence[str],
    pairs: Sequence[Sequence[Pair]],
    instances: Sequence[SpanInstance],
    batch_tokens: int = 8192,
) -> SpanRecovery:
    """Run the masked-span probe: one forward pass per instance, its span masked, the rest visible.

    ``model`` is a masked LM (:class:`~modeling_ssrlm.SSRLMForMaskedLM` or anything returning
    ``.logits`` over the vocabulary); ``sequences`` and ``pairs`` are indexed by ``instance.record``.
    """
    normalized = {index: normalize_sequence(sequences[index]) for index in {i.record for i in instances}}
    rows, masks = [], []
    for instance in instances:
        sequence = normalized[instance.record]
        mask = np.zeros(len(sequence), dtype=bool)
        mask[instance.start : instance.stop] = True
        rows.append(_encode(sequence))
        masks.append(mask)
    log_probabilities = _masked_log_probabilities(model, rows, masks, batch_tokens)
    correct = np.zeros(len(instances))
    log_likelihood = np.zeros(len(instances))
    consistent = np.full(len(instances), np.nan)
    for k, (instance, scores) in enumerate(zip(instances, log_probabilities)):
        sequence = normalized[instance.record]
        truth = np.array([NUCLEOTIDES.index(base) if base in NUCLEOTIDES else -1 for base in sequence[instance.start : instance.stop]])
        predicted = scores.argmax(axis=1)
        known = truth >= 0
        correct[k] = float((predicted == truth)[known].sum())
        log_likelihood[k] = float(scores[np.flatnonzero(known), truth[known]].sum())
        if instance.kind == "helix":
            partner = _partners(pairs[instance.record], len(sequence))
            consistent[k] = float(
                sum(
                    (NUCLEOTIDES[p], sequence[partner[t]]) in CANONICAL
                    for p, t in zip(predicted, range(instance.start, instance.stop))
                )
            )
    return SpanRecovery(list(instances), correct, log_likelihood, consistent)


def partner_swap(
    model,
    sequences: Sequence[str],
    pairs: Sequence[Sequence[Pair]],
    instances: Sequence[SpanInstance],
    seed: int = 0,
    batch_tokens: int = 8192,
) -> UnitScores:
    """Does the model read the partner strand? Per unit, the mean over masked helix positions of

    ``P(prediction pairs with b′ | partner strand mutated) − P(prediction pairs with b′ | original)``

    where each visible partner base ``b`` is replaced by ``b′``, drawn uniformly among the three other
    nucleotides (with ``seed``, so the same for every model), and ``P(pairs with b′)`` is the
    probability mass the model puts on bases that pair canonically with ``b′``. Only ``helix``
    instances are used; positions whose partner is not A/C/G/U are left as they are and not scored.
    0 exactly for any model that ignores the partner strand; units weighted by scored positions.
    """
    rng = np.random.default_rng(seed)
    helices = [instance for instance in instances if instance.kind == "helix"]
    normalized = {index: normalize_sequence(sequences[index]) for index in {i.record for i in helices}}
    rows, swapped_rows, masks, new_partners = [], [], [], []
    for instance in helices:
        sequence = normalized[instance.record]
        partner = _partners(pairs[instance.record], len(sequence))
        mask = np.zeros(len(sequence), dtype=bool)
        mask[instance.start : instance.stop] = True
        mutated = list(sequence)
        new = []
        for t in range(instance.start, instance.stop):
            base = sequence[partner[t]]
            if base not in NUCLEOTIDES:
                new.append(None)
                continue
            mutated[partner[t]] = [x for x in NUCLEOTIDES if x != base][rng.integers(3)]
            new.append(mutated[partner[t]])
        rows.append(_encode(sequence))
        swapped_rows.append(_encode("".join(mutated)))
        masks.append(mask)
        new_partners.append(new)
    original = _masked_log_probabilities(model, rows, masks, batch_tokens)
    swapped = _masked_log_probabilities(model, swapped_rows, masks, batch_tokens)
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for instance, before, after, new in zip(helices, original, swapped, new_partners):
        for k, base in enumerate(new):
            if base is None:
                continue
            shift = np.exp(after[k]) @ PAIRS_WITH[base] - np.exp(before[k]) @ PAIRS_WITH[base]
            sums[instance.unit] += float(shift)
            counts[instance.unit] += 1
    units = sorted(counts)
    return UnitScores(units, np.array([sums[u] / counts[u] for u in units]), np.array([counts[u] for u in units], dtype=float))


@torch.inference_mode()
def heldout_masked_lm_loss(
    model,
    sequences: Sequence[str],
    rate: float = 0.15,
    max_length: int = 510,
    seed: int = 0,
    batch_tokens: int = 16384,
) -> dict[str, float]:
    """Masked-LM cross-entropy (nats per masked nucleotide) with fixed token masks, and the unigram floor.

    Each sequence is cut to its first ``max_length`` nucleotides and masked at ``rate`` with
    :func:`~modeling_ssrlm.data.masking.token_mask`, seeded by ``(seed, index)``: every model sees
    the same masked positions. Returns ``loss``, ``accuracy``, ``unigram`` (the entropy of the
    masked bases' own frequencies: the loss of the best model that knows base frequencies only,
    ≤ ln 4) and ``masked`` (positions scored). Positions holding N are never masked.
    """
    from ..data.masking import token_mask

    rows, masks = [], []
    for index, sequence in enumerate(sequences):
        sequence = normalize_sequence(sequence)[:max_length]
        known = np.array([base in NUCLEOTIDES for base in sequence])
        mask = token_mask(len(sequence), rate, np.random.default_rng([seed, index])) & known
        if mask.any():
            rows.append(_encode(sequence))
            masks.append(mask)
    if not rows:
        raise ValueError("no maskable position in the held-out sequences")
    log_probabilities = _masked_log_probabilities(model, rows, masks, batch_tokens)
    total, correct, counts = 0.0, 0, np.zeros(4)
    for row, mask, scores in zip(rows, masks, log_probabilities):
        truth = np.array(row)[np.flatnonzero(mask) + 1] - NUCLEOTIDE_IDS[0]
        total -= float(scores[np.arange(len(truth)), truth].sum())
        correct += int((scores.argmax(axis=1) == truth).sum())
        counts += np.bincount(truth, minlength=4)
    masked = int(counts.sum())
    frequencies = counts[counts > 0] / masked
    return {
        "loss": total / masked,
        "accuracy": correct / masked,
        "unigram": float(-(frequencies * np.log(frequencies)).sum()),
        "masked": masked,
        "uniform": math.log(4),
    }


def contact_probe(
    backbone_dir: str,
    train: tuple[Sequence[str], Sequence[Sequence[Pair]]],
    test_sets: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Pair]], Sequence[str]]],
    l1_lambda: float | None = None,
    min_separation: int | None = None,
    batch_tokens: int = 4096,
) -> tuple[dict[str, UnitScores], dict]:
    """Fit the attention-contact regression on ``train`` and score P@L on every test set.

    ``test_sets`` maps a name to ``(sequences, pairs, ids)``; sequences too short to have a pair at
    ``min_separation`` are left out. Returns per-sequence P@L as :class:`UnitScores` (units = ids)
    and the fit summary.
    """
    from dataclasses import asdict

    from ..modeling_ssrlm_contact import DEFAULT_L1_LAMBDA, DEFAULT_MIN_SEPARATION, SSRLMForContactRegression
    from ..training.contact_regression import fit_contact_regression

    l1_lambda = DEFAULT_L1_LAMBDA if l1_lambda is None else l1_lambda
    min_separation = DEFAULT_MIN_SEPARATION if min_separation is None else min_separation
    model = SSRLMForContactRegression.from_pretrained(backbone_dir)
    fit = fit_contact_regression(model, *train, l1_lambda=l1_lambda, min_separation=min_separation)
    results = {}
    for name, (sequences, truths, ids) in test_sets.items():
        keep = [k for k, sequence in enumerate(sequences) if len(sequence) > min_separation]
        probabilities = model.pair_probabilities([sequences[k] for k in keep], batch_tokens=batch_tokens)
        values = [precision_at_l(p, truths[k], min_separation) for p, k in zip(probabilities, keep)]
        results[name] = UnitScores([ids[k] for k in keep], np.array(values), np.ones(len(keep)))
    return results, asdict(fit)


@torch.inference_mode()
def pair_probe_scores(
    model,
    test_sets: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Pair]], Sequence[str]]],
    prior_cache_dir: str | None = None,
    prior_workers: int = 1,
    batch_tokens: int = 4096,
) -> dict[str, dict[str, UnitScores]]:
    """Strict precision, recall and F1 per test sequence of a pair model (its threshold and decoder).

    Same outputs as ``model.predict``, but prior channels (if the model has them) come from
    :func:`~modeling_ssrlm.thermodynamics.compute_prior_channels_many` with ``prior_cache_dir``, so
    that the ViennaRNA folds of a test set are computed once for all the models of an ablation.
    Returns ``{set name: {"f1"|"precision"|"recall": UnitScores}}``.
    """
    from ..modeling_ssrlm_pair import logits_to_probabilities, normalize_batch, pad_pair_priors
    from ..thermodynamics import compute_prior_channels_many
    from ..tokenization_ssrlm import SSRLMTokenizer

    model.eval()
    tokenizer = SSRLMTokenizer()
    channels = list(model.config.pair_prior_channels)
    results = {}
    for name, (sequences, truths, ids) in test_sets.items():
        normalized = normalize_batch(sequences)
        priors = (
            list(compute_prior_channels_many(normalized, channels, prior_workers, prior_cache_dir)) if channels else None
        )
        scores = {key: np.zeros(len(normalized)) for key in ("precision", "recall", "f1")}
        for batch in _batches([len(s) for s in normalized], batch_tokens):
            encoded = tokenizer([normalized[i] for i in batch], padding=True, return_tensors="pt").to(model.device)
            inputs = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
            if channels:
                inputs["pair_priors"] = pad_pair_priors([priors[i] for i in batch]).to(model.device)
            logits = model(**inputs).logits.float().cpu().numpy()
            for row, index in enumerate(batch):
                length = len(normalized[index])
                matrix = logits_to_probabilities(logits[row, :length, :length], model.config.pair_min_separation)
                result = pair_scores(model.decode_pairs(matrix, normalized[index]), truths[index])
                for key in scores:
                    scores[key][index] = result[key]
        results[name] = {key: UnitScores(list(ids), values, np.ones(len(ids))) for key, values in scores.items()}
    return results
