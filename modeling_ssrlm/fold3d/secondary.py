"""Secondary structure as an input of the 3D model: one interface, pluggable sources.

The structure model reads two 2D channels per residue pair, the base-pair probability matrix and
the decoded pairs, and starts from the A-form floor built on the decoded pairs
(:func:`~modeling_ssrlm.fold3d.geometry.floor_frames`). Where they come from is a
:class:`SecondaryStructureSource`: any callable ``sequence -> SecondaryStructure`` with a ``name``.

Sources here:

* :class:`ViennaRNASource` (``"viennarna"``, the default): McCaskill partition-function pair
  probabilities and the MFE structure of ViennaRNA (Turner 2004, 37 °C, through
  :func:`modeling_ssrlm.thermodynamics.vienna_fold`). ``import RNA`` happens
  inside the call, so importing this module needs no ViennaRNA.
* :class:`PairModelSource` (``"pair-model:<folder>"``): an SSR-LM pair model
  (``SSRLMForPairPrediction``) predicts the probabilities, its own decoder the pairs.
* :class:`KnownStructureSource` (``"dot-bracket:<file>"``): structures known beforehand (comparative
  analysis, a database entry, another predictor's output), looked up by sequence; ``ssrlm fold3d
  --input-2d`` builds one per record.

:func:`get_source` turns a name (stored in the 3D model's config as ``secondary_structure_source``)
into a source; :func:`register_source` adds a factory, so a new 2D predictor plugs in without any
change to the model, the training loop or the CLI. A trained 3D model should be run with the source
it was trained with (its config names it), because the floor and the 2D channels follow it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..tokenization_ssrlm import to_rna

__all__ = [
    "KnownStructureSource",
    "PairModelSource",
    "SecondaryStructure",
    "SecondaryStructureSource",
    "ViennaRNASource",
    "available_sources",
    "get_source",
    "pairs_matrix",
    "register_source",
]


@dataclass
class SecondaryStructure:
    """2D input of one sequence.

    Attributes:
        probabilities: ``(L, L)`` float32, symmetric, base-pair probabilities in [0, 1].
        pairs: decoded base pairs ``(i, j)``, 0-based, ``i < j``, each residue in at most one pair.
    """

    probabilities: np.ndarray
    pairs: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.probabilities = np.asarray(self.probabilities, dtype=np.float32)
        length = self.probabilities.shape[0]
        if self.probabilities.shape != (length, length):
            raise ValueError(f"probabilities must be (L, L), got {self.probabilities.shape}")
        pairs, seen = [], set()
        for i, j in self.pairs:
            i, j = int(min(i, j)), int(max(i, j))
            if not 0 <= i < j < length:
                raise ValueError(f"pair {(i, j)} out of range for length {length}")
            if i in seen or j in seen:
                raise ValueError(f"residue of pair {(i, j)} is already paired")
            seen.update((i, j))
            pairs.append((i, j))
        self.pairs = sorted(pairs)

    def __len__(self) -> int:
        return self.probabilities.shape[0]


@runtime_checkable
class SecondaryStructureSource(Protocol):
    """``source(sequence) -> SecondaryStructure``; ``name`` identifies it in configs and caches."""

    name: str

    def __call__(self, sequence: str) -> SecondaryStructure: ...


def pairs_matrix(pairs: list[tuple[int, int]], length: int) -> np.ndarray:
    """Symmetric ``(L, L)`` float32 0/1 matrix of ``pairs``."""
    matrix = np.zeros((length, length), dtype=np.float32)
    for i, j in pairs:
        matrix[i, j] = matrix[j, i] = 1.0
    return matrix


class ViennaRNASource:
    """ViennaRNA: partition-function pair probabilities and MFE pairs (default energy model, 37 °C).

    Input may use ``T`` or ``U``; other letters than ``ACGU`` are folded as ``N`` (never paired).
    """

    name = "viennarna"

    def __call__(self, sequence: str) -> SecondaryStructure:
        from ..thermodynamics import vienna_fold  # the package's one ViennaRNA call site

        if not sequence:
            return SecondaryStructure(np.zeros((0, 0), np.float32), [])
        folded = vienna_fold(sequence, "turner2004", kinds=("mfe", "bpp"))
        pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(folded["mfe"], k=1)))]
        return SecondaryStructure(folded["bpp"], pairs)

    def __repr__(self) -> str:
        return "ViennaRNASource()"


class PairModelSource:
    """An SSR-LM pair model folder (``SSRLMForPairPrediction``): its probabilities and decoded pairs."""

    def __init__(self, folder: str) -> None:
        from ..modeling_ssrlm_pair import SSRLMForPairPrediction

        self.folder = folder
        self.name = f"pair-model:{folder}"
        self.model = SSRLMForPairPrediction.from_pretrained(folder).eval()

    def __call__(self, sequence: str) -> SecondaryStructure:
        [prediction] = self.model.predict([sequence])
        probabilities = np.asarray(prediction.probabilities, dtype=np.float32)
        # the floor needs one partner per residue: keep the most probable pair where two share a base
        ranked = sorted((tuple(sorted(map(int, p))) for p in prediction.pairs), key=lambda p: -probabilities[p])
        pairs, used = [], set()
        for i, j in ranked:
            if i not in used and j not in used:
                pairs.append((i, j))
                used.update((i, j))
        return SecondaryStructure(probabilities, pairs)

    def __repr__(self) -> str:
        return f"PairModelSource({self.folder!r})"


class KnownStructureSource:
    """Secondary structures given with the sequences: the pairs as given, and the pairs as probabilities.

    A given structure is taken as certain: the probability channel is its 0/1 pair matrix, so the
    calibrated floor pLDDT (:mod:`.confidence`) reads every residue's state with probability 1. Beside
    ViennaRNA's probabilities (which would disagree wherever the given 2D does) this was the better
    calibrated choice on the chains with a native 2D (``benchmarks/given_2d.py``).

    Args:
        structures: sequence (``T`` or ``U``, any case) → base pairs ``(i, j)``, 0-based; each residue
            in at most one pair.
        name: the source's name in caches and reports.
    """

    def __init__(self, structures: Mapping[str, Sequence[tuple[int, int]]], name: str = "known") -> None:
        self.name = name
        self.structures = {to_rna(sequence): [tuple(pair) for pair in pairs] for sequence, pairs in structures.items()}

    @classmethod
    def from_file(cls, path: str) -> KnownStructureSource:
        """The structures of a FASTA-style dot-bracket file (plain or gzip); where a sequence repeats,
        its first structure is kept. Raises ``ValueError`` for an unreadable file or a bad structure."""
        from ..io.sequences import SequenceFormatError, read_dbn
        from ..secondary_structure import StructureError, parse_dot_bracket

        if not path:
            raise ValueError("the dot-bracket source needs a file: 'dot-bracket:<path>'")
        structures: dict[str, list[tuple[int, int]]] = {}
        try:
            for record in read_dbn(path):
                try:
                    structures.setdefault(to_rna(record.sequence), parse_dot_bracket(record.structure))
                except StructureError as error:
                    raise ValueError(f"{path}: record {record.id!r}: {error}") from None
        except (OSError, SequenceFormatError) as error:
            raise ValueError(f"cannot read dot-bracket structures from {path}: {error}") from None
        return cls(structures, name=f"dot-bracket:{path}")

    def __call__(self, sequence: str) -> SecondaryStructure:
        pairs = self.structures.get(to_rna(sequence))
        if pairs is None:
            raise ValueError(f"no known structure for the {len(sequence)}-nt sequence {sequence[:20]}... ({self.name})")
        return SecondaryStructure(pairs_matrix(pairs, len(sequence)), pairs)

    def __repr__(self) -> str:
        return f"KnownStructureSource({len(self.structures)} structures, name={self.name!r})"


_FACTORIES: dict[str, Callable[[str], SecondaryStructureSource]] = {
    "viennarna": lambda argument: ViennaRNASource(),
    "pair-model": PairModelSource,
    "dot-bracket": KnownStructureSource.from_file,
}


def register_source(prefix: str, factory: Callable[[str], SecondaryStructureSource]) -> None:
    """Make ``get_source("prefix")`` / ``get_source("prefix:argument")`` return ``factory(argument)``."""
    _FACTORIES[prefix] = factory


def available_sources() -> list[str]:
    """Registered name prefixes, sorted."""
    return sorted(_FACTORIES)


def get_source(name: str | SecondaryStructureSource) -> SecondaryStructureSource:
    """A source from its name (``"viennarna"``, ``"pair-model:/path/to/folder"``, ``"dot-bracket:/path/to/file"``);
    sources pass through."""
    if not isinstance(name, str):
        return name
    prefix, _, argument = name.partition(":")
    if prefix not in _FACTORIES:
        raise ValueError(f"unknown secondary-structure source {name!r}; known: {available_sources()}")
    return _FACTORIES[prefix](argument)
