"""Tertiary-structure prediction: 2D as input, the A-form floor as start, learned IPA updates (METHOD.md §4).

Modules: :mod:`.rigid` (frames and quaternions), :mod:`.ipa` (invariant point attention),
:mod:`.geometry` (ideal nucleotide coordinates, the A-form floors), :mod:`.secondary` (2D sources),
:mod:`.features` (2D + floor per chain), :mod:`.lddt` (metric), :mod:`.losses` (FAPE, smooth
lDDT, distogram, pLDDT), :mod:`.pdb_io` (read/write structures), :mod:`.data` (datasets), the
model in :mod:`.modeling_fold3d` / :mod:`.configuration_fold3d`, and the pipelines
:mod:`.training`, :mod:`.inference`, :mod:`.evaluation`, :mod:`.export`.

Importing :mod:`modeling_ssrlm` registers the ``ssrlm_structure`` model type with ``AutoConfig`` /
``AutoModel``.
"""

from .configuration_fold3d import SSRLMStructureConfig
from .modeling_fold3d import SSRLMForStructurePrediction

__all__ = ["SSRLMForStructurePrediction", "SSRLMStructureConfig"]
