"""Choosing which nucleotides to mask for SSR-LM pre-training (SM, SSM and plain MLM).

Three pure functions return a boolean mask over the ``length`` nucleotides of one sequence (special
tokens are not counted; the collator adds them around the mask). They share one masking budget,
:func:`masking_budget`, so the three strategies differ only in *which* positions they choose:

* :func:`span_mask` (**SM**, T5-style span masking): non-overlapping spans of ``span_length``;
* :func:`structure_span_mask` (**SSM**, structure-aware span masking, paper §3.2.1): whole helix
  strands (runs of identical brackets) or SM spans in loops, never both strands of one helix
  when the budget can be met otherwise;
* :func:`token_mask` (**MLM**, plain BERT-style token masking, the ablation baseline).

Every chosen position is replaced by ``[MASK]`` downstream (no 80/10/10 replacement, for SM and SSM
as the method specifies and for MLM too, so the ablation isolates the choice of positions).

Randomness comes only from the ``generator`` argument, a :class:`numpy.random.Generator` (a fresh
``np.random.default_rng()`` when ``None``), so a seeded generator makes every mask reproducible.
"""

from __future__ import annotations

import math

import numpy as np

from ..secondary_structure import parse_dot_bracket

__all__ = ["crop_structure", "masking_budget", "span_mask", "structure_span_mask", "token_mask"]


def masking_budget(length: int, rate: float) -> int:
    """Number of positions to mask in a sequence of ``length`` tokens at masking ``rate``.

    ``round(rate * length)`` with halves rounded up, but at least 1 when ``length >= 1`` and
    ``rate > 0`` so every sequence contributes to the loss (sequences shorter than about 7 nt are
    therefore masked above ``rate``). ``rate == 0`` or ``length == 0`` gives 0.
    """
    _check_length(length)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"masking rate must lie in [0, 1], got {rate}")
    if length == 0 or rate == 0.0:
        return 0
    return max(1, math.floor(rate * length + 0.5))


def span_mask(
    length: int,
    rate: float = 0.15,
    span_length: int = 3,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """Span masking (SM): mask non-overlapping spans of ``span_length`` until the budget is covered.

    With ``budget = masking_budget(length, rate)``, ``k = ceil(budget / span_length)`` spans are placed
    uniformly at random among all placements of ``k`` non-overlapping spans (spans may touch, as
    in T5). The mask therefore covers at least ``budget`` positions and overshoots by less than
    ``span_length`` (e.g. 1024 nt at 15 %: budget 154, 52 spans, 156 positions). Only when ``k``
    full spans do not fit (sequences shorter than ``budget + span_length - 1``) is the last span
    clipped at the sequence end.

    Returns a boolean array of shape ``(length,)``.
    """
    _check_span_length(span_length)
    rng = np.random.default_rng(generator)
    budget = masking_budget(length, rate)
    mask = np.zeros(length, dtype=bool)
    if budget == 0:
        return mask
    num_spans = -(-budget // span_length)
    # Place the spans on a virtual sequence long enough to hold them all; the part beyond
    # ``length`` is shorter than one span, so every span still starts inside the sequence.
    virtual_length = max(length, num_spans * span_length)
    # Stars and bars: k sorted distinct slots among (virtual_length - k*(span_length-1)), shifted by
    # the span lengths before them, are exactly the non-overlapping placements, uniformly.
    slots = rng.choice(virtual_length - num_spans * (span_length - 1), size=num_spans, replace=False)
    starts = np.sort(slots) + np.arange(num_spans) * (span_length - 1)
    positions = (starts[:, None] + np.arange(span_length)).ravel()
    mask[positions[positions < length]] = True
    return mask


def token_mask(
    length: int, rate: float = 0.15, generator: np.random.Generator | None = None
) -> np.ndarray:
    """Plain token masking (MLM): exactly ``masking_budget(length, rate)`` positions, uniformly without replacement.

    Same budget as SM and SSM (rather than BERT's independent 15 % coin per token), so the MLM
    ablation differs from them only in which positions are chosen. Returns a boolean array of
    shape ``(length,)``.
    """
    rng = np.random.default_rng(generator)
    mask = np.zeros(length, dtype=bool)
    mask[rng.choice(length, size=masking_budget(length, rate), replace=False)] = True
    return mask


def structure_span_mask(
    structure: str,
    rate: float = 0.15,
    span_length: int = 3,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """Structure-aware span masking (SSM) of a sequence with dot-bracket ``structure`` (METHOD.md §2).

    Units of masking:

    * a *run* is a maximal stretch of consecutive identical bracket characters at paired
      positions, e.g. ``((((`` or ``]]`` (each pseudoknot bracket type, ``[]{}<>`` and letter pairs,
      counts like a parenthesis of its own type). A seed anywhere in a run masks the whole run
      (the paper extends a ``(`` run only to the right of the seed and a ``)`` run only to the
      left; the whole maximal run is used here, as the method page specifies);
    * a seed at an unpaired position (``.`` or any WUSS unpaired character) masks an SM span of
      ``span_length`` starting there, clipped at the end of the unpaired stretch, so paired
      positions are only ever masked as whole runs.

    The *partner runs* of a run are the runs holding the partners of its positions (one run for a
    regular helix strand, several when a strand pairs with bulge-interrupted strands).

    Algorithm, with ``budget = masking_budget(len(structure), rate)``:

    1. Visit the positions in a uniformly random order (so a run is seeded with probability
       proportional to its length), stopping as soon as ``budget`` positions are masked. An
       already masked seed is skipped; an unpaired seed adds its span (only newly masked
       positions count); a run whose partner runs are all unmasked is added; a run with a
       masked partner run is *deferred* (the partner strand must stay visible).
    2. Only if every position has been visited and the budget is still not met, the deferred
       runs are added in the order they were first deferred until it is.

    So both strands of a helix are masked together only when the budget cannot be met otherwise
    (always so when ``budget`` is at most the number of unpaired positions). The mask covers at
    least ``budget`` positions and overshoots it by less than one unit (a run or a span).

    Raises :class:`~modeling_ssrlm.secondary_structure.StructureError` (a ``ValueError``) for a malformed
    structure. Returns a boolean array of shape ``(len(structure),)``.
    """
    _check_span_length(span_length)
    rng = np.random.default_rng(generator)
    length = len(structure)
    budget = masking_budget(length, rate)
    units = _StructureUnits(structure)
    masked = bytearray(length)
    covered = 0
    deferred: dict[int, None] = {}  # insertion-ordered set of run ids
    for seed in rng.permutation(length).tolist():
        if covered >= budget:
            break
        if masked[seed]:
            continue
        run = units.run_of[seed]
        if run < 0:
            covered += _mask_range(masked, seed, min(seed + span_length, units.stretch_stop[seed]))
        elif units.partner_masked(run, masked):
            deferred.setdefault(run)
        else:
            covered += _mask_range(masked, units.run_start[run], units.run_stop[run])
    for run in deferred:
        if covered >= budget:
            break
        covered += _mask_range(masked, units.run_start[run], units.run_stop[run])
    return np.frombuffer(bytes(masked), dtype=bool).copy()


def crop_structure(structure: str, start: int, stop: int) -> str:
    """The dot-bracket of the window ``structure[start:stop]``, still balanced.

    Pairs with both ends in the window keep their characters; a position whose partner lies
    outside the window becomes ``.`` (it is unpaired within the crop), so the result parses and
    SSM sees the helices that survive the crop.
    """
    if not 0 <= start <= stop <= len(structure):
        raise ValueError(f"window [{start}, {stop}) does not lie within a structure of length {len(structure)}")
    pairs = np.asarray(parse_dot_bracket(structure), dtype=np.int64).reshape(-1, 2)
    inside = (pairs >= start) & (pairs < stop)
    broken = pairs[inside & ~inside[:, ::-1]]
    chars = np.frombuffer(structure.encode("utf-8"), dtype=np.uint8).copy()
    chars[broken] = ord(".")
    return chars[start:stop].tobytes().decode("ascii")


def _mask_range(masked: bytearray, start: int, stop: int) -> int:
    """Mask ``masked[start:stop]`` and return how many of those positions were not masked before."""
    newly_masked = (stop - start) - masked[start:stop].count(1)
    masked[start:stop] = b"\x01" * (stop - start)
    return newly_masked


class _StructureUnits:
    """The masking units of one dot-bracket string, as plain Python lists for a fast seed loop.

    Attributes:
        run_of: per position, the id of its run, or -1 at an unpaired position.
        run_start, run_stop: per run, its half-open position range.
        partner: per position, its partner position, or -1.
        stretch_stop: per position, the first paired position at or after it (or the length).
    """

    def __init__(self, structure: str):
        length = len(structure)
        partner = np.full(length, -1, dtype=np.int64)
        pairs = np.asarray(parse_dot_bracket(structure), dtype=np.int64).reshape(-1, 2)
        partner[pairs[:, 0]], partner[pairs[:, 1]] = pairs[:, 1], pairs[:, 0]
        paired = partner >= 0
        chars = np.frombuffer(structure.encode("utf-8"), dtype=np.uint8)  # ASCII once parsed
        same_as_previous = np.zeros(length, dtype=bool)
        same_as_previous[1:] = paired[:-1] & (chars[1:] == chars[:-1])
        starts_run = paired & ~same_as_previous
        run_of = np.where(paired, np.cumsum(starts_run) - 1, -1)
        run_start = np.flatnonzero(starts_run)
        run_stop = run_start + np.bincount(run_of[paired], minlength=len(run_start))
        next_paired = np.where(paired, np.arange(length), length)
        stretch_stop = np.minimum.accumulate(next_paired[::-1])[::-1]

        self.run_of: list[int] = run_of.tolist()
        self.run_start: list[int] = run_start.tolist()
        self.run_stop: list[int] = run_stop.tolist()
        self.partner: list[int] = partner.tolist()
        self.stretch_stop: list[int] = stretch_stop.tolist()

    def partner_masked(self, run: int, masked: bytearray) -> bool:
        """Whether a partner of the run is masked, i.e. (runs being masked whole) a partner run is."""
        return any(masked[partner] for partner in self.partner[self.run_start[run] : self.run_stop[run]])


def _check_length(length: int) -> None:
    """Raise ``ValueError`` unless ``length`` is a non-negative integer."""
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")


def _check_span_length(span_length: int) -> None:
    """Raise ``ValueError`` unless ``span_length`` is a positive integer."""
    if isinstance(span_length, bool) or not isinstance(span_length, (int, np.integer)) or span_length < 1:
        raise ValueError(f"span_length must be a positive integer, got {span_length!r}")
