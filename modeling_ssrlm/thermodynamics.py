"""Thermodynamic prior channels for the pair model, and ViennaRNA soft-constraint decoding.

This is the one module of the package that calls ViennaRNA (PyPI ``viennarna``, ``import RNA``) for
the model. It is a top-level module: ``save_pretrained`` copies it next to ``modeling_ssrlm_pair.py``
into released model folders. At import time it therefore needs only the standard library, numpy and
its sibling :mod:`secondary_structure`; ``RNA`` is imported lazily inside a ``try`` block (transformers'
``trust_remote_code`` import check skips ``try`` blocks, so a folder whose model uses no prior
channel and no ViennaRNA decoder loads where ViennaRNA is not installed).

Prior channels
--------------
A channel is named ``"<kind>:<parameter set>"``, e.g. ``"bpp:turner2004"``:

* kind ``bpp``: the McCaskill base-pair probability matrix (symmetric ``L × L`` float32; entries below
  :data:`BPP_CUTOFF` are set to 0, so a cached entry reproduces the direct computation exactly);
* kind ``mfe``: the minimum-free-energy structure as a symmetric 0/1 matrix;
* parameter set: one of the RNA sets bundled with ViennaRNA (:data:`PARAMETER_SETS`): ``turner2004``
  (ViennaRNA's default), ``turner1999``, ``andronescu2007`` and ``langdon2018``.

Folding is at 37 °C with ViennaRNA's default model otherwise (dangles 2, GU pairs and lonely pairs
allowed, no G-quadruplexes). Input is the model alphabet (``ACGT`` + ``N``) or RNA, in any case:
``T`` is read as ``U`` and every other letter becomes ``N``, which ViennaRNA never pairs.

Energy parameters are process-global in ViennaRNA, and ViennaRNA 2.7 also keeps the last scaled
parameter table per model-details struct without invalidating it when a new set is loaded
(``SPEEDUP_PARAMS`` in ``params/params.c``): a plain ``params_load_*`` followed by
``fold_compound`` silently folds with the previous set. :func:`energy_parameters` therefore flushes
that copy after every load, and restores (and flushes) Turner 2004 when it is done.

Batches and cache
-----------------
:func:`compute_prior_channels_many` computes channels for many sequences, in a process pool when
``workers > 1``, reading and filling an optional on-disk :class:`PriorCache` (one small ``.npz``
per sequence, channel and ViennaRNA version; written atomically).

Decoding
--------
:func:`decode_with_vienna` turns a predicted pair-probability matrix into a structure with the
energy model: the probabilities become pseudo-energies (:func:`soft_constraint_energies`) added to
every pair with ``fold_compound.sc_add_bp``, the nested structure is the MFE or MEA structure under
these soft constraints, and a pseudoknot pass then adds the confident pairs that cross it
(:func:`add_confident_pairs`), which a nested decoder cannot express; it may also add confident
non-canonical pairs, which no energy model predicts, anywhere or only where they stack on a pair
already decoded (:func:`add_stacked_noncanonical_pairs`): helix-end and internal-loop mismatches.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .secondary_structure import Pair, base_pair_type, pairs_to_matrix, parse_dot_bracket
from .tokenization_ssrlm import to_rna_letters

__all__ = [
    "BPP_CUTOFF",
    "CHANNEL_KINDS",
    "DECODERS",
    "NONCANONICAL_PLACEMENTS",
    "PARAMETER_SETS",
    "PRIOR_CHANNELS",
    "PriorCache",
    "SOFT_CONSTRAINT_TRANSFORMS",
    "STACKED_NONCANONICAL_MIN_LOOP",
    "TEMPERATURE",
    "add_confident_pairs",
    "add_stacked_noncanonical_pairs",
    "compute_prior_channels",
    "compute_prior_channels_many",
    "decode_with_vienna",
    "energy_parameters",
    "mfe_dot_bracket",
    "soft_constraint_energies",
    "stacked_noncanonical_candidates",
    "validate_channels",
    "vienna_fold",
    "vienna_nested_pairs",
    "vienna_version",
]

#: ViennaRNA's bundled RNA energy parameter sets: channel suffix → loader function of ``RNA``.
PARAMETER_SETS: dict[str, str] = {
    "turner2004": "params_load_RNA_Turner2004",
    "turner1999": "params_load_RNA_Turner1999",
    "andronescu2007": "params_load_RNA_Andronescu2007",
    "langdon2018": "params_load_RNA_Langdon2018",
}
DEFAULT_PARAMETER_SET = "turner2004"
CHANNEL_KINDS = ("bpp", "mfe")
#: Every valid channel name, ``"<kind>:<parameter set>"``.
PRIOR_CHANNELS = tuple(f"{kind}:{name}" for name in PARAMETER_SETS for kind in CHANNEL_KINDS)
TEMPERATURE = 37.0  # °C
#: Base-pair probabilities below this are stored and returned as 0.
BPP_CUTOFF = 1e-5
#: ``pair_decoder`` choices: threshold + matching (postprocess.py) or ViennaRNA MFE / MEA + pseudoknot pass.
DECODERS = ("threshold", "vienna_mfe", "vienna_mea")
#: Where the non-canonical pass of :func:`decode_with_vienna` may add a pair.
NONCANONICAL_PLACEMENTS = ("anywhere", "stacked")
#: A stacked non-canonical pair ``(i, j)`` needs ``j − i > 2``: it may close a loop of two bases, as the
#: sheared G·A of a GNRA tetraloop closes its N and R (canonical pairs keep ``min_loop_length``).
STACKED_NONCANONICAL_MIN_LOOP = 2
SOFT_CONSTRAINT_TRANSFORMS = ("logodds", "probability")

# Model details used only to evict ViennaRNA's cached parameter table (see the module docstring).
_FLUSH_TEMPERATURE = -100.0
# Probabilities are clipped to [_EPS, 1 - _EPS] before taking log-odds.
_EPS = 1e-6


# --------------------------------------------------------------------------- ViennaRNA access


def _vienna():
    """Return the ``RNA`` module, imported on first use (in ``try``: see the module docstring)."""
    try:
        import RNA
    except ImportError as error:
        raise ImportError(
            "thermodynamic prior channels and the ViennaRNA decoders need ViennaRNA: pip install viennarna"
        ) from error
    return RNA


def vienna_version() -> str:
    """The installed ViennaRNA version (part of every cache key)."""
    return _vienna().__version__


def validate_channels(channels: Iterable[str]) -> tuple[str, ...]:
    """Return ``channels`` as a tuple; ``ValueError`` listing the known names for an unknown or repeated one."""
    if isinstance(channels, str):
        raise ValueError(f"pass a list of channel names, not the string {channels!r}")
    channels = tuple(channels)
    unknown = [channel for channel in channels if channel not in PRIOR_CHANNELS]
    if unknown:
        raise ValueError(f"unknown prior channel(s) {unknown}; known channels: {', '.join(PRIOR_CHANNELS)}")
    if len(set(channels)) != len(channels):
        raise ValueError(f"prior channels must not repeat, got {list(channels)}")
    return channels


def _flush_parameter_cache(RNA) -> None:
    """Evict ViennaRNA 2.7's cached parameter tables by scaling parameters for throw-away model details."""
    details = RNA.md()
    details.temperature = _FLUSH_TEMPERATURE
    RNA.param(details)
    RNA.exp_param(details)


def _load_parameter_set(RNA, name: str) -> None:
    """Load a bundled parameter set globally and make the next fold compound use it."""
    if not getattr(RNA, PARAMETER_SETS[name])():
        raise RuntimeError(f"ViennaRNA could not load the {name} energy parameters")
    _flush_parameter_cache(RNA)


@contextmanager
def energy_parameters(name: str):
    """Run the block with the bundled parameter set ``name`` loaded; yields the ``RNA`` module.

    Turner 2004 (ViennaRNA's default) is loaded again on exit, also after an error. Everything that
    reads parameters (``fold_compound``, ``mfe``, ``pf``, ``bpp``, ``MEA``) must run inside the block:
    a fold compound builds its partition-function parameters lazily, at the first ``pf``.
    """
    if name not in PARAMETER_SETS:
        raise ValueError(f"unknown parameter set {name!r}; known: {', '.join(PARAMETER_SETS)}")
    RNA = _vienna()
    _load_parameter_set(RNA, name)
    try:
        yield RNA
    finally:
        _load_parameter_set(RNA, DEFAULT_PARAMETER_SET)


def _fold_compound(RNA, rna: str):
    """A fold compound at :data:`TEMPERATURE` with ViennaRNA's default model otherwise."""
    details = RNA.md()
    details.temperature = TEMPERATURE
    return RNA.fold_compound(rna, details)


def mfe_dot_bracket(sequence: str, temperature: float = TEMPERATURE) -> str:
    """The Turner 2004 minimum-free-energy structure of ``sequence`` as dot-bracket (``""`` when empty).

    What corpus labelling and the 3D floor model fold with; ``temperature`` in °C.
    """
    rna = to_rna_letters(sequence)
    if not rna:
        return ""  # ViennaRNA cannot build a fold compound for an empty sequence
    RNA = _vienna()
    details = RNA.md()
    details.temperature = temperature
    return RNA.fold_compound(rna, details).mfe()[0]


# --------------------------------------------------------------------------- prior channels


def vienna_fold(
    sequence: str, parameter_set: str, kinds: Iterable[str] = CHANNEL_KINDS, mea_gamma: float = 1.0
) -> dict:
    """Fold one sequence with one parameter set; return the requested results by kind.

    ``kinds`` may hold ``"mfe"`` and ``"bpp"`` (the channel matrices) and ``"mea"`` (the pair list
    of the maximum-expected-accuracy structure for ``mea_gamma``, used by the benchmark). The
    sequence must be non-empty; it is converted with :func:`to_rna_letters`.
    """
    rna = to_rna_letters(sequence)
    if not rna:
        raise ValueError("cannot fold an empty sequence")
    kinds = set(kinds)
    results = {}
    with energy_parameters(parameter_set) as RNA:
        compound = _fold_compound(RNA, rna)
        structure, energy = compound.mfe()
        if "mfe" in kinds:
            results["mfe"] = pairs_to_matrix(parse_dot_bracket(structure), len(rna))
        if kinds & {"bpp", "mea"}:
            compound.exp_params_rescale(energy)
            compound.pf()
            if "bpp" in kinds:
                results["bpp"] = _symmetric_probabilities(compound.bpp())
            if "mea" in kinds:
                results["mea"] = parse_dot_bracket(compound.MEA(mea_gamma)[0])
    return results


def _symmetric_probabilities(bpp) -> np.ndarray:
    """ViennaRNA's 1-based upper-triangle ``bpp()`` → symmetric ``L × L`` float32, entries < cutoff zeroed."""
    upper = np.triu(np.array(bpp, dtype=np.float64)[1:, 1:], k=1).astype(np.float32)
    upper[upper < BPP_CUTOFF] = 0.0
    return upper + upper.T


def compute_prior_channels(sequence: str, channels: Sequence[str]) -> np.ndarray:
    """Return the ``(K, L, L)`` float32 prior channels of one sequence, in the order of ``channels``.

    Channels of one parameter set share a single fold compound. An empty sequence gives a
    ``(K, 0, 0)`` array. Deterministic, and ViennaRNA's default parameters are loaded on return.
    """
    channels = validate_channels(channels)
    rna = to_rna_letters(sequence)
    if not rna or not channels:
        return np.zeros((len(channels), len(rna), len(rna)), dtype=np.float32)
    kinds_by_set: dict[str, set[str]] = {}
    for channel in channels:
        kind, parameter_set = channel.split(":")
        kinds_by_set.setdefault(parameter_set, set()).add(kind)
    matrices = {
        f"{kind}:{parameter_set}": matrix
        for parameter_set, kinds in kinds_by_set.items()
        for kind, matrix in vienna_fold(rna, parameter_set, kinds).items()
    }
    return np.stack([matrices[channel] for channel in channels])


# --------------------------------------------------------------------------- cache and batches


class PriorCache:
    """On-disk cache of prior channels: one ``.npz`` per (sequence, channel, ViennaRNA version).

    Entries live at ``directory/<key[:2]>/<key>.npz``, ``key`` being the SHA-256 of the three. They
    hold the upper-triangle non-zero entries only (``rows``, ``cols`` as int32 and, for ``bpp``,
    ``values`` as float32), plus the sequence and channel to guard against a mismatched file; a
    ``bpp`` channel of a 100-nt sequence takes about 9 kB, an ``mfe`` channel under 2 kB.
    Writes go to a temporary file that is then renamed, so an interrupted run leaves no partial
    entry; an unreadable or inconsistent entry counts as missing and is recomputed.
    """

    def __init__(self, directory: str | os.PathLike, version: str | None = None):
        self.directory = Path(directory)
        self.version = vienna_version() if version is None else version

    def key(self, rna: str, channel: str) -> str:
        """SHA-256 hex digest of (ViennaRNA version, channel, sequence in the ViennaRNA alphabet)."""
        return hashlib.sha256(f"{self.version}\n{channel}\n{rna}".encode()).hexdigest()

    def path(self, rna: str, channel: str) -> Path:
        key = self.key(rna, channel)
        return self.directory / key[:2] / f"{key}.npz"

    def load(self, rna: str, channel: str) -> np.ndarray | None:
        """The cached ``L × L`` matrix, or ``None`` when the entry is missing or unusable."""
        path = self.path(rna, channel)
        try:
            with np.load(path, allow_pickle=False) as entry:
                if str(entry["sequence"]) != rna or str(entry["channel"]) != channel:
                    return None
                rows, cols = entry["rows"], entry["cols"]
                values = entry["values"] if "values" in entry else np.ones(len(rows), dtype=np.float32)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, truncated or foreign file
            return None
        length = len(rna)
        if not (rows.shape == cols.shape == values.shape and np.all((0 <= rows) & (rows < cols) & (cols < length))):
            return None
        matrix = np.zeros((length, length), dtype=np.float32)
        matrix[rows, cols] = values
        matrix[cols, rows] = values
        return matrix

    def store(self, rna: str, channel: str, matrix: np.ndarray) -> None:
        """Write one channel atomically (temporary file in the same folder, then ``os.replace``)."""
        rows, cols = np.nonzero(np.triu(matrix, k=1))
        arrays = {"sequence": np.array(rna), "channel": np.array(channel), "rows": rows.astype(np.int32),
                  "cols": cols.astype(np.int32)}
        if channel.startswith("bpp:"):
            arrays["values"] = matrix[rows, cols].astype(np.float32)
        path = self.path(rna, channel)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                np.savez(handle, **arrays)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _cached_prior_channels(sequence: str, channels: tuple[str, ...], cache: PriorCache | None) -> np.ndarray:
    """:func:`compute_prior_channels` through ``cache``: read what is there, compute and store the rest."""
    if cache is None:
        return compute_prior_channels(sequence, channels)
    rna = to_rna_letters(sequence)
    if not channels:
        return np.zeros((0, len(rna), len(rna)), dtype=np.float32)
    found = {channel: cache.load(rna, channel) for channel in channels}
    missing = [channel for channel, matrix in found.items() if matrix is None]
    if missing:
        for channel, matrix in zip(missing, compute_prior_channels(rna, missing)):
            cache.store(rna, channel, matrix)
            found[channel] = matrix
    return np.stack([found[channel] for channel in channels])


def _channel_groups(channels: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``channels`` grouped by parameter set (first appearance order): one fold compound per group."""
    groups: dict[str, list[str]] = {}
    for channel in channels:
        groups.setdefault(channel.split(":")[1], []).append(channel)
    return [tuple(group) for group in groups.values()]


def _cached_group(job: tuple[str, tuple[str, ...]], cache: PriorCache | None) -> np.ndarray:
    """One ``(sequence, channels of one parameter set)`` job of :func:`compute_prior_channels_many`."""
    sequence, channels = job
    return _cached_prior_channels(sequence, channels, cache)


def compute_prior_channels_many(
    sequences: Iterable[str],
    channels: Sequence[str],
    workers: int = 1,
    cache_dir: str | os.PathLike | None = None,
    chunksize: int = 1,
) -> Iterator[np.ndarray]:
    """Yield :func:`compute_prior_channels` of each sequence, in input order.

    ``workers > 1`` folds in a process pool (``workers == 1`` runs in this process); a job is one
    sequence with one parameter set, so even a single sequence with channels of two parameter sets
    folds on two cores. With ``cache_dir``, each worker reads the channels cached there and stores
    those it computes (iterate to the end with ``for _ in ...: pass`` to fill a cache for a
    training set).
    """
    channels = validate_channels(channels)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    cache = None if cache_dir is None else PriorCache(cache_dir)
    if not channels:
        yield from (np.zeros((0, len(s), len(s)), dtype=np.float32) for s in map(to_rna_letters, sequences))
        return
    groups = _channel_groups(channels)
    grouped_order = [channel for group in groups for channel in group]
    order = [grouped_order.index(channel) for channel in channels]
    task = functools.partial(_cached_group, cache=cache)
    if workers == 1:
        for sequence in sequences:
            yield np.concatenate([task((sequence, group)) for group in groups])[order]
        return
    sequences = list(sequences)
    if not sequences:
        return
    jobs = ((sequence, group) for sequence in sequences for group in groups)
    with multiprocessing.Pool(min(workers, len(sequences) * len(groups))) as pool:
        results = pool.imap(task, jobs, chunksize)
        for _ in sequences:
            yield np.concatenate([next(results) for _ in groups])[order]


# --------------------------------------------------------------------------- decoding


def soft_constraint_energies(probabilities: np.ndarray, transform: str = "logodds", scale: float = 0.5) -> np.ndarray:
    """Pseudo-energies (kcal/mol) that :func:`decode_with_vienna` adds to each pair ``(i, j)``.

    * ``"logodds"``: ``-scale · log(p / (1 − p))``, ``p`` clipped to ``[1e-6, 1 − 1e-6]``: a bonus
      for ``p > 0.5`` and a penalty below. With ``scale = kT`` (0.616 kcal/mol at 37 °C) the
      Boltzmann weight of a structure is multiplied by ``∏ p / (1 − p)`` over its pairs, i.e. the
      network's odds are combined with the energy model as independent evidence.
    * ``"probability"``: ``-scale · p``, a bonus only, proportional to the probability.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if transform == "logodds":
        clipped = np.clip(probabilities, _EPS, 1.0 - _EPS)
        return -scale * np.log(clipped / (1.0 - clipped))
    if transform == "probability":
        return -scale * probabilities
    raise ValueError(f"transform must be one of {SOFT_CONSTRAINT_TRANSFORMS}, got {transform!r}")


def _nested_structure(
    probabilities: np.ndarray, rna: str, method: str, transform: str, scale: float, gamma: float
) -> list[Pair]:
    """MFE (``method="mfe"``) or MEA (``"mea"``) structure of Turner 2004 plus the soft constraints."""
    length = len(rna)
    energies = np.zeros((length + 1, length + 1))  # ViennaRNA's matrix form is 1-based
    energies[1:, 1:] = np.triu(soft_constraint_energies(probabilities, transform, scale), k=1)
    with energy_parameters(DEFAULT_PARAMETER_SET) as RNA:
        compound = _fold_compound(RNA, rna)
        compound.sc_add_bp(energies.tolist())
        structure, energy = compound.mfe()
        if method == "mea":
            compound.exp_params_rescale(energy)
            compound.pf()
            structure = compound.MEA(gamma)[0]
    return parse_dot_bracket(structure)


def add_confident_pairs(
    nested: Iterable[Pair],
    probabilities: np.ndarray,
    sequence: str,
    threshold: float,
    canonical_only: bool,
    min_loop_length: int,
    crossing_only: bool = True,
    noncanonical_only: bool = False,
) -> list[Pair]:
    """Add to ``nested`` the confident pairs the energy model could not give: the later passes of the ViennaRNA decoders.

    A candidate ``(i, j)`` has ``probabilities[i, j] > threshold``, ``j − i > min_loop_length``, both
    bases unpaired so far, and is AU/GC/GU when ``canonical_only`` (non-canonical when
    ``noncanonical_only``). With ``crossing_only`` (the pseudoknot pass) it must also cross a pair of
    ``nested``; without it, any such pair is added, which lets a model trained on 3D-derived
    structures add the non-canonical pairs no energy model predicts. Candidates are accepted greedily
    by descending probability (ties by position), so each base keeps at most one partner. Returns the
    sorted pair list.
    """
    if canonical_only and noncanonical_only:
        raise ValueError("canonical_only and noncanonical_only exclude each other")
    nested = sorted(nested)
    length = len(sequence)
    nested_partner = np.full(length, -1, dtype=np.int64)
    for i, j in nested:
        nested_partner[[i, j]] = (j, i)
    paired = nested_partner >= 0
    rows, cols = np.nonzero(np.triu(np.asarray(probabilities) > threshold, k=min_loop_length + 1))
    weights = np.asarray(probabilities)[rows, cols]
    added = []
    for _, i, j in sorted(zip(-weights, rows.tolist(), cols.tolist())):
        if paired[i] or paired[j] or (crossing_only and not _crosses(nested_partner, i, j)):
            continue
        if (canonical_only or noncanonical_only) and (
            (base_pair_type(sequence[i], sequence[j]) == "noncanonical") != noncanonical_only
        ):
            continue
        paired[[i, j]] = True
        added.append((i, j))
    return sorted(nested + added)


def stacked_noncanonical_candidates(pairs: Iterable[Pair], sequence: str) -> list[Pair]:
    """The non-canonical pairs that would stack on a pair of ``pairs``, sorted.

    ``(i, j)`` is a candidate when it is not AU/GC/GU, ``j − i >`` :data:`STACKED_NONCANONICAL_MIN_LOOP`,
    both its bases are unpaired in ``pairs``, and ``(i − 1, j + 1)`` or ``(i + 1, j − 1)`` is a pair
    of ``pairs``: it continues a helix by one mismatch at either end, or fills a 1×1 internal loop.
    Candidates may share a base (e.g. both ends of a 1×2 loop).
    """
    pairs = list(pairs)
    paired = np.zeros(len(sequence), dtype=bool)
    for i, j in pairs:
        paired[[i, j]] = True
    candidates = {
        (a, b) for i, j in pairs for a, b in ((i + 1, j - 1), (i - 1, j + 1))
        if 0 <= a and b < len(sequence) and b - a > STACKED_NONCANONICAL_MIN_LOOP and not (paired[a] or paired[b])
        and base_pair_type(sequence[a], sequence[b]) == "noncanonical"
    }  # fmt: skip
    return sorted(candidates)


def add_stacked_noncanonical_pairs(
    pairs: Iterable[Pair], probabilities: np.ndarray, sequence: str, threshold: float
) -> list[Pair]:
    """Add the non-canonical pairs that stack on a pair of ``pairs``: the ``"stacked"`` non-canonical pass.

    The candidates are :func:`stacked_noncanonical_candidates` with ``probabilities[i, j] > threshold``.
    Most non-canonical pairs of PDB-derived structures that are not part of base triples sit there
    (G·A, A·A, U·U, C·A mismatches; ``benchmarks/noncanonical_signal.py``), and the candidates
    are few, so the network's probability ranks a short list instead of every entry. One pass: a pair
    stacks on the input structure, never on a pair this pass added. Candidates are accepted greedily
    by descending probability (ties by position), each base once. Returns the sorted pair list.
    """
    pairs = sorted(pairs)
    probabilities = np.asarray(probabilities)
    paired = np.zeros(len(sequence), dtype=bool)
    for i, j in pairs:
        paired[[i, j]] = True
    candidates = [pair for pair in stacked_noncanonical_candidates(pairs, sequence) if probabilities[pair] > threshold]
    added = []
    for a, b in sorted(candidates, key=lambda pair: (-probabilities[pair], pair)):
        if not (paired[a] or paired[b]):
            paired[[a, b]] = True
            added.append((a, b))
    return sorted(pairs + added)


def _crosses(partner: np.ndarray, i: int, j: int) -> bool:
    """Whether ``(i, j)`` crosses a pair of ``partner`` (a base inside paired with one outside)."""
    inside = partner[i + 1 : j]
    return bool(np.any((inside >= 0) & ((inside < i) | (inside > j))))


def vienna_nested_pairs(
    probabilities: np.ndarray,
    sequence: str,
    method: str = "mfe",
    min_loop_length: int = 3,
    transform: str = "logodds",
    scale: float = 0.5,
    gamma: float = 1.0,
) -> list[Pair]:
    """The nested part of :func:`decode_with_vienna`: the MFE or MEA structure under the model's soft constraints.

    Turner 2004 at 37 °C with :func:`soft_constraint_energies` ``(transform, scale)`` added to every
    pair; MEA weighs paired against unpaired bases by ``gamma``. Pairs with ``j − i ≤
    min_loop_length`` are dropped (ViennaRNA itself keeps hairpins of at least 3 bases). Raises
    ``ValueError`` for a matrix that is not a finite ``L × L`` array or an unknown method.
    """
    if method not in ("mfe", "mea"):
        raise ValueError(f"method must be 'mfe' or 'mea', got {method!r}")
    rna = to_rna_letters(sequence)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(rna), len(rna)) or not np.all(np.isfinite(probabilities)):
        raise ValueError(
            f"probabilities must be a finite ({len(rna)}, {len(rna)}) matrix for a sequence of length "
            f"{len(rna)}, got shape {probabilities.shape}"
        )
    if not rna:
        return []
    nested = _nested_structure(probabilities, rna, method, transform, scale, gamma)
    return [(i, j) for i, j in nested if j - i > min_loop_length]


def decode_with_vienna(
    probabilities: np.ndarray,
    sequence: str,
    method: str = "mfe",
    threshold: float = 0.5,
    canonical_only: bool = False,
    min_loop_length: int = 3,
    transform: str = "logodds",
    scale: float = 0.5,
    gamma: float = 1.0,
    crossing_only: bool = True,
    nested: Sequence[Pair] | None = None,
    noncanonical_threshold: float | None = None,
    noncanonical_placement: str = "anywhere",
) -> list[Pair]:
    """Decode an ``L × L`` pair-probability matrix with ViennaRNA soft constraints, then add confident pairs.

    1. :func:`vienna_nested_pairs` (``method``, ``transform``, ``scale``, ``gamma``), unless ``nested``
       already holds its result for these probabilities (a threshold search reuses it: the nested
       part does not depend on the threshold).
    2. :func:`add_confident_pairs` with ``threshold``, ``canonical_only``, ``min_loop_length`` and
       ``crossing_only``.
    3. Unless ``noncanonical_threshold`` is ``None``: the non-canonical pairs above it where both
       bases are still unpaired, anywhere (``noncanonical_placement="anywhere"``,
       :func:`add_confident_pairs` with ``noncanonical_only``) or only stacked on a pair of steps 1–2
       (``"stacked"``, :func:`add_stacked_noncanonical_pairs`).

    The result is a sorted pair list with ``i < j`` and each base in at most one pair.
    """
    if nested is None:
        nested = vienna_nested_pairs(probabilities, sequence, method, min_loop_length, transform, scale, gamma)
    rna = to_rna_letters(sequence)
    pairs = add_confident_pairs(nested, probabilities, rna, threshold, canonical_only, min_loop_length, crossing_only)
    if noncanonical_placement not in NONCANONICAL_PLACEMENTS:
        raise ValueError(
            f"noncanonical_placement must be one of {NONCANONICAL_PLACEMENTS}, got {noncanonical_placement!r}"
        )
    if noncanonical_threshold is None:
        return pairs
    if noncanonical_placement == "stacked":
        return add_stacked_noncanonical_pairs(pairs, probabilities, rna, noncanonical_threshold)
    return add_confident_pairs(
        pairs, probabilities, rna, noncanonical_threshold, False, min_loop_length, crossing_only=False, noncanonical_only=True
    )
