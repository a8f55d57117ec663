"""Secondary-structure prediction backends for labelling the ncRNA of the pre-training corpus.

Structure-aware span masking needs a dot-bracket structure for every ncRNA sequence. The paper used
CONTRAfold; this package ships a ViennaRNA backend (minimum free energy, PyPI ``viennarna``) behind a
small interface so that other predictors (CONTRAfold, LinearFold, ...) can be added without touching
the corpus pipeline:

* :class:`FoldingBackend` — ``name`` and ``fold(sequence) -> dot-bracket``; the result has the length
  of the input and holds only ``(``, ``)`` and ``.`` (nested, no pseudoknots).
* :func:`register_folding_backend` / :func:`get_folding_backend` — a name → factory registry.
* :func:`fold_many` — folds a stream of sequences in order, in a process pool when ``workers > 1``.

Sequences use the model's DNA alphabet (``T``); backends fold ``T`` as ``U``. ``N`` is left to the
backend, which for ViennaRNA means an unpairable base.
"""

from __future__ import annotations

import multiprocessing
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

from .. import thermodynamics


class FoldingBackend(ABC):
    """Predicts one nested secondary structure per sequence. Instances must be picklable."""

    name: ClassVar[str]

    @abstractmethod
    def fold(self, sequence: str) -> str:
        """Return the dot-bracket structure of ``sequence`` (DNA or RNA alphabet, any case)."""


class ViennaRNABackend(FoldingBackend):
    """Minimum-free-energy structure from ViennaRNA (:func:`modeling_ssrlm.thermodynamics.mfe_dot_bracket`).

    ``temperature`` is in °C; ``None`` keeps 37 °C. Only the temperature is stored, so the backend
    pickles cheaply into worker processes.
    """

    name = "vienna"

    def __init__(self, temperature: float | None = None) -> None:
        thermodynamics.vienna_version()  # fail at construction, not in a worker, when viennarna is missing
        self.temperature = temperature

    def fold(self, sequence: str) -> str:
        if self.temperature is None:
            return thermodynamics.mfe_dot_bracket(sequence)
        return thermodynamics.mfe_dot_bracket(sequence, self.temperature)

    def __repr__(self) -> str:
        return f"ViennaRNABackend(temperature={self.temperature!r})"


_BACKENDS: dict[str, Callable[..., FoldingBackend]] = {ViennaRNABackend.name: ViennaRNABackend}


def register_folding_backend(name: str, factory: Callable[..., FoldingBackend]) -> None:
    """Make ``get_folding_backend(name, **options)`` return ``factory(**options)``."""
    _BACKENDS[name] = factory


def available_folding_backends() -> list[str]:
    """Names accepted by :func:`get_folding_backend`, sorted."""
    return sorted(_BACKENDS)


def get_folding_backend(name: str, **options) -> FoldingBackend:
    """Instantiate the backend registered as ``name`` with backend-specific ``options``."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown folding backend {name!r}; available: {', '.join(available_folding_backends())}")
    return _BACKENDS[name](**options)


_worker_backend: FoldingBackend | None = None


def _init_worker(backend: FoldingBackend) -> None:
    global _worker_backend
    _worker_backend = backend


def _fold_in_worker(sequence: str) -> str:
    return _worker_backend.fold(sequence)


def fold_many(sequences: Iterable[str], backend: FoldingBackend, workers: int = 1, chunksize: int = 4) -> Iterator[str]:
    """Yield the structure of each sequence, in input order, folding lazily.

    With ``workers > 1`` a process pool folds ahead of the consumer; the backend is sent to each
    worker once. Small chunks keep the pool balanced, since folding time grows with the cube of the
    length. Closing the generator early (e.g. a run stopped after some shards) terminates the pool.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        yield from map(backend.fold, sequences)
        return
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(backend,)) as pool:
        yield from pool.imap(_fold_in_worker, sequences, chunksize)
