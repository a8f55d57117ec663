"""The secondary-structure benchmark behind ``benchmarks/eval_ss.py``: every method, every set, one scorer.

Methods are scored on the same records in the same run with
:func:`~modeling_ssrlm.evaluation.metrics.score_structures`:

* each model folder, under each requested decoder (``config.pair_decoder`` set for the run);
* ViennaRNA MFE (Turner 2004, computed in the run; its McCaskill probabilities give its AUPRC);
* the other tools' stored predictions in ``../shared/baselines`` (CONTRAfold, EternaFold, MXfold2:
  JSONL, 0-based pairs), matched to the evaluation records by id. A tool is scored on a set only
  when it has a prediction for every record of it.

Besides the scores of ``score_structures`` (precision, recall, F1 strict and ±1, AUPRC, F1 by pair
type, with non-canonical pairs apart, and by length bin) each row gets ``seconds_per_sequence`` and,
when training sequences are given, F1 by identity of each record to its nearest training sequence
(MMseqs2): generalisation is the question.

Whether one method beats another on a set is a paired question (same records): :func:`compare_methods`
gives the difference of the per-sequence mean strict F1 with a 95 % interval and a two-sided p from a
paired bootstrap over the sequences (:func:`~modeling_ssrlm.evaluation.comparison.paired_bootstrap`),
per set and over all sets together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..configuration_ssrlm import SSRLMConfig
from ..data.ss_datasets import load_ss_split
from ..io.mmseqs import similar_to
from ..modeling_ssrlm_contact import SSRLMForContactRegression
from ..modeling_ssrlm_pair import SSRLMForPairPrediction, normalize_batch
from ..secondary_structure import Pair
from ..thermodynamics import vienna_fold
from .comparison import UnitScores, paired_bootstrap
from .metrics import pair_scores, precision_at_l, score_structures

__all__ = [
    "BASELINE_SETS",
    "BASELINE_TOOLS",
    "EvalSet",
    "IDENTITY_BINS",
    "MethodRun",
    "compare_methods",
    "identity_to_training",
    "load_baselines",
    "load_eval_set",
    "load_pair_model",
    "per_sequence_f1",
    "run_model",
    "run_vienna",
    "score_run",
]

#: Evaluation split → stem of its files in the baselines folder (records matched by id).
BASELINE_SETS = {
    "bprna/TS0": "bprna_ts0",
    "spot_rna_pdb/TS1": "pdb_ts1",
    "spot_rna_pdb/TS2": "pdb_ts2",
    "squarna/TS1reducedWC": "squarna_ts1rwc",
    "archiveii/all": "archiveii",
}
#: File tag → display name of the stored predictions scored beside ours.
BASELINE_TOOLS = {"contrafold_mea": "CONTRAfold MEA", "eternafold_mea": "EternaFold MEA", "mxfold2": "MXfold2"}
#: Edges of the identity-to-nearest-training-sequence bins (MMseqs2 identity; "none" below the first).
IDENTITY_BINS = (0.5, 0.8)
MODEL_CLASSES = {cls.__name__: cls for cls in (SSRLMForPairPrediction, SSRLMForContactRegression)}


@dataclass
class EvalSet:
    """The records of one evaluation split (``name`` as ``dataset/split``, optionally ``@max_length``)."""

    name: str
    ids: list[str]
    sequences: list[str]
    truths: list[list[Pair]]


@dataclass
class MethodRun:
    """One method's output on one set: pairs, optional probability maps, wall seconds for the whole set."""

    pairs: list[list[Pair]]
    probabilities: list[np.ndarray] | None
    seconds: float | None


def load_eval_set(data_root: str | Path, name: str, limit: int | None = None, ids: set[str] | None = None) -> EvalSet:
    """Load ``dataset/split``, optionally ``@N`` (records of at most N nt) and ``%K`` (a seeded sample of K).

    A trailing ``[stem]`` (a stored baseline set, whose ids the caller passes as ``ids``) is ignored here.

    ``archiveii/all@600`` is ArchiveII's unique sequences of at most 600 nt; ``…%40`` keeps 40 of them,
    drawn with seed 0 (in split order). ``ids`` keeps only those records (e.g. the ids of a baseline set).
    """
    spec, _, sample = name.partition("[")[0].partition("%")
    split, _, max_length = spec.partition("@")
    dataset = load_ss_split(data_root, split)
    if max_length:
        dataset = dataset.filter(lambda length: length <= int(max_length), input_columns="length")
    if ids is not None:
        dataset = dataset.filter(lambda record_id: record_id in ids, input_columns="id")
    if sample and len(dataset) > int(sample):
        dataset = dataset.select(sorted(np.random.default_rng(0).choice(len(dataset), int(sample), replace=False)))
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    truths = [[tuple(pair) for pair in pairs] for pairs in dataset["pairs"]]
    return EvalSet(name, list(dataset["id"]), list(dataset["sequence"]), truths)


def load_pair_model(path: str | Path) -> SSRLMForPairPrediction | SSRLMForContactRegression:
    """Load a pair-model folder with the class its config names (local folders only, never the Hub)."""
    if not Path(path).is_dir():
        raise ValueError(f"model folder {str(path)!r} not found")
    config = SSRLMConfig.from_pretrained(path)
    names = [name for name in (config.architectures or []) if name in MODEL_CLASSES]
    if not names:
        raise ValueError(f"{path} does not hold a pair model (architectures: {config.architectures}); "
                         f"expected one of {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[names[0]].from_pretrained(path)


def run_model(
    model, sequences: Sequence[str], decoders: Sequence[str | None] = (None,), batch_tokens: int = 4096,
    prior_cache_dir: str | Path | None = None,
) -> dict[str | None, MethodRun]:
    """Run ``model`` once and decode its probabilities with each decoder (``None``: the config's own).

    A decoder is a ``pair_decoder`` value, optionally with ``+<pair_decoder_extra_pairs>``
    (``vienna_mfe+any``: confident non-crossing pairs are added too). A run's ``seconds`` are the
    forward pass (priors included) plus that decoder's decoding.
    """
    start = time.perf_counter()
    probabilities = model.pair_probabilities(list(sequences), batch_tokens=batch_tokens, prior_cache_dir=prior_cache_dir)
    forward_seconds = time.perf_counter() - start
    normalized = normalize_batch(sequences)
    runs = {}
    saved = (model.config.pair_decoder, model.config.pair_decoder_extra_pairs)
    try:
        for decoder in decoders:
            if decoder is not None:
                name, _, extra = decoder.partition("+")
                model.config.pair_decoder, model.config.pair_decoder_extra_pairs = name, extra or "crossing"
            start = time.perf_counter()
            pairs = [model.decode_pairs(matrix, sequence) for matrix, sequence in zip(probabilities, normalized)]
            runs[decoder] = MethodRun(pairs, probabilities, forward_seconds + time.perf_counter() - start)
            model.config.pair_decoder, model.config.pair_decoder_extra_pairs = saved
    finally:
        model.config.pair_decoder, model.config.pair_decoder_extra_pairs = saved
    return runs


def run_vienna(sequences: Sequence[str]) -> MethodRun:
    """ViennaRNA (Turner 2004, 37 °C): MFE pairs, and McCaskill probabilities for the AUPRC.

    Timed for both together (one fold compound computes the MFE and the partition function).
    """
    pairs, probabilities = [], []
    start = time.perf_counter()
    for sequence in sequences:
        folded = vienna_fold(sequence, "turner2004", kinds=("mfe", "bpp"))
        pairs.append([(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(folded["mfe"], k=1)))])
        probabilities.append(folded["bpp"])
    return MethodRun(pairs, probabilities, time.perf_counter() - start)


def load_baselines(baselines_dir: str | Path, eval_set: EvalSet) -> dict[str, MethodRun]:
    """The stored predictions that cover every record of ``eval_set``, by display name.

    Family-fold and length-filtered ArchiveII sets take the records they need from the ``archiveii``
    files. Stored predictions carry no probabilities and no timing of ours (their README has them).
    """
    base, _, bracket = eval_set.name.partition("[")
    split = base.partition("%")[0].partition("@")[0]
    stem = bracket.rstrip("]") or BASELINE_SETS.get(split, "archiveii" if split.startswith("archiveii") else None)
    runs = {}
    for tag, display in BASELINE_TOOLS.items():
        path = Path(baselines_dir) / f"{stem}.{tag}.jsonl"
        if stem is None or not path.is_file():
            continue
        with path.open() as handle:
            stored = {record["id"]: record for record in map(json.loads, handle)}
        if not all(record_id in stored for record_id in eval_set.ids):
            continue
        for record_id, sequence in zip(eval_set.ids, eval_set.sequences):
            if len(stored[record_id]["sequence"]) != len(sequence):
                raise ValueError(f"{path}: record {record_id} has another length than the evaluation set's")
        runs[display] = MethodRun([[tuple(pair) for pair in stored[i]["pairs"]] for i in eval_set.ids], None, None)
    return runs


def identity_to_training(eval_set: EvalSet, training: dict[str, str], threads: int = 1) -> list[str]:
    """Bin label per record: MMseqs2 identity to its nearest training sequence (80 % coverage).

    Bins are ``"<50%"`` (no hit at 50 % identity), ``"50-80%"`` and ``">=80%"``.
    """
    queries = dict(zip(map(str, range(len(eval_set.sequences))), eval_set.sequences))
    hits = similar_to(queries, training, min_seq_id=IDENTITY_BINS[0], threads=threads)
    labels = []
    for index in range(len(eval_set.sequences)):
        identity = hits.get(str(index), (None, 0.0))[1]
        labels.append("<50%" if identity < IDENTITY_BINS[0] else "50-80%" if identity < IDENTITY_BINS[1] else ">=80%")
    return labels


def score_run(eval_set: EvalSet, run: MethodRun, identity_bins: list[str] | None = None) -> dict:
    """:func:`score_structures` of one run, plus P@L, seconds per sequence and F1 by identity bin."""
    result = score_structures(eval_set.sequences, run.pairs, eval_set.truths, run.probabilities)
    if run.probabilities is not None:
        scored = [precision_at_l(p, t) for p, t in zip(run.probabilities, eval_set.truths) if len(p) > 6]
        result["precision_at_l"] = float(np.mean(scored)) if scored else None
    result["seconds_per_sequence"] = None if run.seconds is None else run.seconds / len(eval_set.sequences)
    if identity_bins is not None:
        f1 = [pair_scores(pred, true)["f1"] for pred, true in zip(run.pairs, eval_set.truths)]
        for label in ("<50%", "50-80%", ">=80%"):
            chosen = [value for value, bin_label in zip(f1, identity_bins) if bin_label == label]
            result[f"f1_identity_{label}"] = float(np.mean(chosen)) if chosen else None
            result[f"n_identity_{label}"] = len(chosen)
    return result


def per_sequence_f1(eval_set: EvalSet, run: MethodRun) -> UnitScores:
    """Strict F1 of each record of one run (units ``set:id``, weight 1): the input of :func:`compare_methods`."""
    units = [f"{eval_set.name}:{record_id}" for record_id in eval_set.ids]
    f1 = [pair_scores(pred, true)["f1"] for pred, true in zip(run.pairs, eval_set.truths)]
    return UnitScores(units, np.array(f1, dtype=float), np.ones(len(units)))


def compare_methods(
    per_sequence: dict[str, dict[str, UnitScores]], first: str, second: str, replicates: int = 2000, seed: int = 0
) -> dict[str, dict]:
    """``first − second`` of the per-sequence mean strict F1, per set and over every set (``"all sets"``).

    ``per_sequence`` maps set → method → :func:`per_sequence_f1`. Only sets where both methods were
    scored count. Each entry holds the difference, the 95 % percentile interval and the two-sided p of
    a paired bootstrap over sequences (``replicates`` resamples), and the number of sequences.
    """
    results: dict[str, dict] = {}
    pooled_a, pooled_b = [], []
    for name, methods in per_sequence.items():
        if first not in methods or second not in methods:
            continue
        pooled_a.append(methods[first])
        pooled_b.append(methods[second])
        results[name] = _paired(methods[first], methods[second], replicates, seed)
    if len(pooled_a) > 1:
        results["all sets"] = _paired(_concatenate(pooled_a), _concatenate(pooled_b), replicates, seed)
    return results


def _concatenate(scores: list[UnitScores]) -> UnitScores:
    return UnitScores(
        [unit for s in scores for unit in s.units],
        np.concatenate([s.values for s in scores]),
        np.concatenate([s.weights for s in scores]),
    )


def _paired(a: UnitScores, b: UnitScores, replicates: int, seed: int) -> dict:
    comparison = paired_bootstrap([a], [b], replicates=replicates, seed=seed, resample_seeds=False)
    return {
        "difference": comparison.difference,
        "ci_low": comparison.ci_low,
        "ci_high": comparison.ci_high,
        "p_bootstrap": comparison.p_bootstrap,
        "n_sequences": comparison.units,
    }
