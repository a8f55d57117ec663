"""Tertiary-structure prediction on top of a frozen SSR-LM encoder (METHOD.md §4).

Modules: :mod:`.rigid` (frames and quaternions), :mod:`.ipa` (invariant point attention),
:mod:`.geometry` (ideal nucleotide coordinates, A-form baseline), :mod:`.lddt` (metric),
:mod:`.losses` (FAPE, distogram, pLDDT), :mod:`.pdb_io` (read/write structures), :mod:`.data`
(datasets) and the model in :mod:`.modeling_fold3d` / :mod:`.configuration_fold3d`.

Importing :mod:`modeling_ssrlm` registers the ``ssrlm_structure`` model type with ``AutoConfig`` /
``AutoModel``.
"""

from .configuration_fold3d import SSRLMStructureConfig
from .modeling_fold3d import SSRLMForStructurePrediction

__all__ = ["SSRLMForStructurePrediction", "SSRLMStructureConfig"]
