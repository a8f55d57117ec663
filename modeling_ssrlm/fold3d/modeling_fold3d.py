"""SSR-LM tertiary-structure model: 2D + (frozen encoder) → pair/single trunk → IPA updates of the floor.

A small RhoFold/AlphaFold-2-like model (METHOD.md §4, paper §3.3.3) with these simplifications,
chosen so that it trains on a CPU with a few dozen chains:

* input is a single sequence (no MSA) and its secondary structure (from a
  :mod:`~modeling_ssrlm.fold3d.secondary` source): learned nucleotide embeddings, optionally the
  frozen SSR-LM embeddings, and per-residue pairing probability / paired flag give the single
  representation; the pair representation is an outer sum + low-rank outer product of it, a
  clipped relative-position one-hot, the base-pair probabilities and decoded pairs, the binned
  C4'-C4' distances of the floor and, optionally, the encoder's attention maps;
* the structure module starts from the frames of the A-form floor
  (:func:`~modeling_ssrlm.fold3d.geometry.floor_frames`) and predicts updates to them; the last
  layer of the update is zero-initialised, so an untrained model returns the floor exactly and
  training learns the correction;
* the trunk blocks ("Evoformer-lite") update the single representation with pair-biased
  self-attention and the pair representation with an outer-product update, the two triangle
  multiplicative updates (outgoing/incoming) and a transition; there is no triangle attention
  (its O(L³·heads) cost buys little at this size);
* the structure module is AlphaFold's (Algorithm 20) with shared weights over the iterations:
  IPA → transition → backbone update of one rigid frame per nucleotide (quaternion + translation),
  rotations detached between iterations; no torsion angles: all atoms come from ideal local
  coordinates in the frame ``(P, C4', N1/N9)`` (see :mod:`.geometry`);
* heads: C4'-C4' distogram from the pair representation and two pLDDT heads (binned per-residue
  C4' lDDT) from the final single representation, one for the network's structure and one for
  the floor's (``--mode floor``; replaced at inference by the calibrated linear model of
  :mod:`.confidence` when ``config.floor_plddt_calibration`` is set); losses FAPE (averaged over
  iterations) + smooth C4' lDDT + distogram + pLDDT; recycling of single/pair/C4'-distances is optional (``num_recycles``).

Inputs beyond ``input_ids`` come from :func:`~modeling_ssrlm.fold3d.features.compute_features`
(see :func:`~modeling_ssrlm.fold3d.features.features_batch`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..modeling_ssrlm import SSRLMModel
from ..modeling_ssrlm_pair import residue_mask, strip_special_tokens
from ..tokenization_ssrlm import VOCAB
from .configuration_fold3d import SSRLMStructureConfig
from .confidence import calibrated_plddt, calibration_features
from .geometry import frames_to_atoms
from .ipa import InvariantPointAttention
from .losses import distance_bins, distogram_loss, fape, plddt_bin_centers, plddt_loss, smooth_lddt_loss
from .residue_constants import ATOM_INDEX
from .rigid import Rigid

_C4 = ATOM_INDEX["C4'"]
_FRAME_ATOMS = (ATOM_INDEX["P"], ATOM_INDEX["C4'"], ATOM_INDEX["N"])
_PURINE_IDS = (VOCAB["A"], VOCAB["G"])


@dataclass
class StructurePredictionOutput(ModelOutput):
    """Outputs of :class:`SSRLMForStructurePrediction`; per-residue tensors exclude CLS/EOS.

    Attributes:
        loss: weighted sum of the losses below (when reference coordinates are given).
        fape_loss / distogram_loss / plddt_loss: the unweighted components.
        positions: ``(B, L, n_atoms, 3)`` predicted coordinates in Å (slots of ``pdb_io.ATOM_NAMES``).
        frame_rotations / frame_translations: ``(B, L, 3, 3)`` / ``(B, L, 3)`` final frames.
        plddt: ``(B, L)`` expected lDDT in [0, 1]; ``plddt_logits``: ``(B, L, num_plddt_bins)``.
        distogram_logits: ``(B, L, L, num_distogram_bins)``.
        residue_mask: ``(B, L)`` 1 for residues, 0 for padding.
        floor_positions: ``(B, L, n_atoms, 3)`` atoms of the floor frames (the start), when used.
        floor_plddt: ``(B, L)`` expected lDDT of the floor: the floor pLDDT head's expectation, or the
            calibrated linear model of the 2D when ``config.floor_plddt_calibration`` is set;
            ``floor_plddt_logits``: the head's logits (computed either way, for its training loss).
        smooth_lddt_loss / floor_plddt_loss: further unweighted loss components.
    """

    loss: torch.FloatTensor | None = None
    fape_loss: torch.FloatTensor | None = None
    distogram_loss: torch.FloatTensor | None = None
    plddt_loss: torch.FloatTensor | None = None
    positions: torch.FloatTensor | None = None
    frame_rotations: torch.FloatTensor | None = None
    frame_translations: torch.FloatTensor | None = None
    plddt: torch.FloatTensor | None = None
    plddt_logits: torch.FloatTensor | None = None
    distogram_logits: torch.FloatTensor | None = None
    residue_mask: torch.FloatTensor | None = None
    floor_positions: torch.FloatTensor | None = None
    floor_plddt: torch.FloatTensor | None = None
    floor_plddt_logits: torch.FloatTensor | None = None
    smooth_lddt_loss: torch.FloatTensor | None = None
    floor_plddt_loss: torch.FloatTensor | None = None


def _zero_init(layer: nn.Linear) -> nn.Linear:
    """Mark a layer whose weights start at zero (residual outputs, backbone update)."""
    layer.zero_init = True
    return layer


class Transition(nn.Module):
    """Pre-norm two-layer MLP, residual branch (output layer starts at zero)."""

    def __init__(self, dim: int, factor: int = 2) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.hidden = nn.Linear(dim, factor * dim)
        self.out = _zero_init(nn.Linear(factor * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.hidden(self.norm(x))))


class OuterProduct(nn.Module):
    """Pair features from a single representation: ``Linear(a_i ⊗ b_j)`` (low-rank outer product)."""

    def __init__(self, single_dim: int, pair_dim: int, rank: int, zero_init: bool = False) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(single_dim)
        self.factors = nn.Linear(single_dim, 2 * rank)
        out = nn.Linear(rank * rank, pair_dim)
        self.out = _zero_init(out) if zero_init else out

    def forward(self, single: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a, b = (self.factors(self.norm(single)) * mask[..., None]).chunk(2, dim=-1)
        outer = torch.einsum("bic,bjd->bijcd", a, b)
        return self.out(outer.flatten(-2))


class TriangleMultiplication(nn.Module):
    """Triangle multiplicative update (AlphaFold 2 Algorithms 11/12), "outgoing" or "incoming" edges."""

    def __init__(self, pair_dim: int, outgoing: bool) -> None:
        super().__init__()
        self.outgoing = outgoing
        self.norm_in = nn.LayerNorm(pair_dim)
        self.projection = nn.Linear(pair_dim, 2 * pair_dim)
        self.gate = nn.Linear(pair_dim, 2 * pair_dim)
        self.norm_out = nn.LayerNorm(pair_dim)
        self.out_gate = nn.Linear(pair_dim, pair_dim)
        self.out = _zero_init(nn.Linear(pair_dim, pair_dim))

    def forward(self, pair: torch.Tensor, pair_mask: torch.Tensor) -> torch.Tensor:
        z = self.norm_in(pair)
        ab = torch.sigmoid(self.gate(z)) * self.projection(z) * pair_mask[..., None]
        a, b = ab.chunk(2, dim=-1)
        if self.outgoing:
            x = torch.einsum("bikc,bjkc->bijc", a, b)
        else:
            x = torch.einsum("bkic,bkjc->bijc", a, b)
        return torch.sigmoid(self.out_gate(z)) * self.out(self.norm_out(x))


class PairBiasedAttention(nn.Module):
    """Gated self-attention over residues of the single representation with a bias from the pair."""

    def __init__(self, single_dim: int, pair_dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(single_dim)
        self.pair_norm = nn.LayerNorm(pair_dim)
        self.qkvg = nn.Linear(single_dim, 4 * single_dim, bias=False)
        self.pair_bias = nn.Linear(pair_dim, num_heads, bias=False)
        self.out = _zero_init(nn.Linear(single_dim, single_dim))

    def forward(self, single: torch.Tensor, pair: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = single.shape
        head_dim = dim // self.num_heads
        q, k, v, g = self.qkvg(self.norm(single)).view(batch, length, self.num_heads, 4 * head_dim).chunk(4, -1)
        logits = torch.einsum("bihc,bjhc->bhij", q, k) / math.sqrt(head_dim)
        logits = logits + self.pair_bias(self.pair_norm(pair)).permute(0, 3, 1, 2)
        logits = logits.masked_fill(mask[:, None, None, :] == 0, torch.finfo(logits.dtype).min)
        attended = torch.einsum("bhij,bjhc->bihc", torch.softmax(logits, dim=-1), v)
        return self.out((torch.sigmoid(g) * attended).reshape(batch, length, dim))


class TrunkBlock(nn.Module):
    """One pair/single update: attention with pair bias, transitions, outer product, triangle updates."""

    def __init__(self, config: SSRLMStructureConfig) -> None:
        super().__init__()
        s, z = config.single_dim, config.pair_dim
        self.attention = PairBiasedAttention(s, z, config.num_trunk_heads)
        self.single_transition = Transition(s)
        self.outer_product = OuterProduct(s, z, config.outer_product_dim, zero_init=True)
        self.triangle_out = TriangleMultiplication(z, outgoing=True)
        self.triangle_in = TriangleMultiplication(z, outgoing=False)
        self.pair_transition = Transition(z)

    def forward(self, single: torch.Tensor, pair: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pair_mask = mask[:, :, None] * mask[:, None, :]
        single = single + self.attention(single, pair, mask)
        single = single + self.single_transition(single)
        pair = pair + self.outer_product(single, mask)
        pair = pair + self.triangle_out(pair, pair_mask)
        pair = pair + self.triangle_in(pair, pair_mask)
        pair = pair + self.pair_transition(pair)
        return single, pair


class StructureModule(nn.Module):
    """IPA iterations with shared weights updating one rigid frame per nucleotide."""

    def __init__(self, config: SSRLMStructureConfig) -> None:
        super().__init__()
        s, z = config.single_dim, config.pair_dim
        self.num_iterations = config.num_structure_iterations
        self.position_scale = config.position_scale
        self.single_norm = nn.LayerNorm(s)
        self.pair_norm = nn.LayerNorm(z)
        self.single_in = nn.Linear(s, s)
        self.ipa = InvariantPointAttention(
            s, z, config.num_ipa_heads, config.ipa_head_dim, config.ipa_query_points, config.ipa_value_points
        )
        self.ipa_norm = nn.LayerNorm(s)
        self.transition = Transition(s)
        self.transition_norm = nn.LayerNorm(s)
        self.backbone_update = _zero_init(nn.Linear(s, 6))

    def forward(self, single: torch.Tensor, pair: torch.Tensor, mask: torch.Tensor,
                initial_frames: Rigid | None = None) -> tuple[torch.Tensor, list[Rigid]]:
        """Returns the final single representation and the frames after every iteration (Å).

        ``initial_frames`` (batch shape ``(B, L)``) is where the iterations start; identity frames
        when None. Each iteration composes a predicted update on the right (in the local frame).
        """
        batch, length, _ = single.shape
        single = self.single_in(self.single_norm(single))
        pair = self.pair_norm(pair)
        if initial_frames is None:
            frames = Rigid.identity(batch, length, dtype=single.dtype, device=single.device)
        else:
            frames = Rigid(initial_frames.rots.to(single.dtype), initial_frames.trans.to(single.dtype))
        trajectory = []
        for iteration in range(self.num_iterations):
            single = self.ipa_norm(single + self.ipa(single, pair, frames, mask))
            single = self.transition_norm(single + self.transition(single))
            update = Rigid.from_quaternion_update(self.backbone_update(single))
            frames = frames.compose(update.scale_translation(self.position_scale))
            trajectory.append(frames)
            if iteration < self.num_iterations - 1:
                frames = frames.detach_rotation()
        return single, trajectory


class SSRLMStructurePreTrainedModel(PreTrainedModel):
    """Initialisation and checkpoint plumbing of the structure model."""

    config_class = SSRLMStructureConfig
    config: SSRLMStructureConfig
    base_model_prefix = "ssrlm_structure"
    _no_split_modules = ["TrunkBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.Linear) and getattr(module, "zero_init", False):
            init.zeros_(module.weight)
        elif isinstance(module, InvariantPointAttention):
            init.constant_(module.head_weights, 0.541324854612918)  # softplus⁻¹(1)


class SSRLMForStructurePrediction(SSRLMStructurePreTrainedModel):
    """(Frozen SSR-LM encoder) + 2D + floor → trunk → IPA structure module + distogram and pLDDT heads.

    ``forward(input_ids, attention_mask, ss_probabilities, ss_pairs, floor_rotations,
    floor_translations, coords=None, atom_mask=None)``: ``input_ids`` come from
    :class:`~modeling_ssrlm.tokenization_ssrlm.SSRLMTokenizer` (CLS ... EOS, right padding); the 2D
    channels ``(B, L, L)`` and floor frames ``(B, L, 3, 3)`` / ``(B, L, 3)`` from
    :func:`~modeling_ssrlm.fold3d.features.features_batch` (needed when the config uses them);
    ``coords`` ``(B, L, n_atoms, 3)`` and ``atom_mask`` ``(B, L, n_atoms)`` are the reference atoms
    (slots of :data:`~modeling_ssrlm.fold3d.pdb_io.ATOM_NAMES`) and switch on the losses.
    :meth:`fold` does all of it from plain sequences.
    """

    def __init__(self, config: SSRLMStructureConfig) -> None:
        super().__init__(config)
        encoder = config.encoder_config
        s, z = config.single_dim, config.pair_dim
        if config.use_encoder:
            self.model = SSRLMModel(encoder)  # the backbone attribute of every SSR-LM head
            if config.use_attention_maps:
                self.model.set_attn_implementation("eager")
            self.model.requires_grad_(False)
            self.embedding_norm = nn.LayerNorm(encoder.hidden_size)
            self.single_embed = nn.Linear(encoder.hidden_size, s)
        self.token_embed = nn.Embedding(encoder.vocab_size, s)
        if config.use_secondary_structure:
            self.ss_single = nn.Linear(2, s)
            self.ss_pair = nn.Linear(2, z)
        if config.use_floor_distances:
            self.floor_distance = nn.Linear(config.num_distogram_bins, z)
        self.pair_left_right = nn.Linear(s, 2 * z)
        self.pair_outer = OuterProduct(s, z, config.outer_product_dim)
        self.relative_position = nn.Linear(2 * config.max_relative_position + 1, z)
        if config.use_attention_maps:
            self.attention_embed = nn.Linear(encoder.num_hidden_layers * encoder.num_attention_heads, z)
        if config.num_recycles:
            self.recycle_single_norm = nn.LayerNorm(s)
            self.recycle_pair_norm = nn.LayerNorm(z)
            self.recycle_distance = nn.Linear(config.num_distogram_bins, z)
        self.trunk = nn.ModuleList(TrunkBlock(config) for _ in range(config.num_trunk_blocks))
        self.structure_module = StructureModule(config)
        self.distogram_head = nn.Linear(z, config.num_distogram_bins)
        self.plddt_head = nn.Sequential(
            nn.LayerNorm(s), nn.Linear(s, s), nn.ReLU(), nn.Linear(s, config.num_plddt_bins)
        )
        if config.start_from_floor:
            self.floor_plddt_head = nn.Sequential(
                nn.LayerNorm(s), nn.Linear(s, s), nn.ReLU(), nn.Linear(s, config.num_plddt_bins)
            )
        self.post_init()

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> SSRLMForStructurePrediction:
        """Load as usual, then freeze the encoder again (loading weights resets ``requires_grad``).

        With ``output_loading_info=True`` the result is ``(model, loading_info)``, as for any model.
        """
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if kwargs.get("output_loading_info") else loaded
        if model.config.use_encoder:
            model.model.requires_grad_(False)
        return loaded

    def train(self, mode: bool = True) -> SSRLMForStructurePrediction:
        """Switch training mode; the frozen encoder always stays in eval mode (no dropout)."""
        super().train(mode)
        if self.config.use_encoder:
            self.model.eval()
        return self

    def _embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               ss_probabilities: torch.Tensor | None, ss_pairs: torch.Tensor | None,
               floor_frames: Rigid | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Single ``(B, L, s)``, pair ``(B, L, L, z)`` and residue mask ``(B, L)`` from all inputs."""
        residues = residue_mask(input_ids, attention_mask, self.config.encoder_config)
        tokens = strip_special_tokens(input_ids[..., None], residues)[..., 0]
        dtype = self.token_embed.weight.dtype
        residues = residues.to(dtype)
        single = self.token_embed(tokens)
        encoded = None
        if self.config.use_encoder:
            with torch.no_grad():
                encoded = self.model(
                    input_ids=input_ids, attention_mask=attention_mask,
                    output_attentions=self.config.use_attention_maps,
                )
            hidden = strip_special_tokens(encoded.last_hidden_state, residues.bool())
            single = single + self.single_embed(self.embedding_norm(hidden))
        pair_mask = residues[:, :, None] * residues[:, None, :]
        if self.config.use_secondary_structure:
            probabilities = ss_probabilities.to(dtype) * pair_mask
            pairs = ss_pairs.to(dtype) * pair_mask
            per_residue = torch.stack([probabilities.sum(-1).clamp_max(1.0), pairs.sum(-1).clamp_max(1.0)], -1)
            single = single + self.ss_single(per_residue)
        single = single * residues[..., None]
        left, right = self.pair_left_right(single).chunk(2, dim=-1)
        pair = left[:, :, None] + right[:, None, :] + self.pair_outer(single, residues)
        length = single.shape[1]
        positions = torch.arange(length, device=single.device)
        offsets = (positions[None, :] - positions[:, None]).clamp(
            -self.config.max_relative_position, self.config.max_relative_position
        ) + self.config.max_relative_position
        one_hot = F.one_hot(offsets, 2 * self.config.max_relative_position + 1).to(single.dtype)
        pair = pair + self.relative_position(one_hot)[None]
        if self.config.use_secondary_structure:
            pair = pair + self.ss_pair(torch.stack([probabilities, pairs], dim=-1))
        if self.config.use_floor_distances:
            pair = pair + self.floor_distance(self._binned_distances(floor_frames.trans.to(dtype)))
        if self.config.use_attention_maps:
            maps = torch.cat(encoded.attentions, dim=1)[:, :, 1:-1, 1:-1]  # (B, layers*heads, L, L)
            pair = pair + self.attention_embed(maps.permute(0, 2, 3, 1))
        return single, pair, residues

    def _binned_distances(self, points: torch.Tensor) -> torch.Tensor:
        """One-hot distogram bins ``(B, L, L, num_distogram_bins)`` of the distances between ``points``."""
        edges = distance_bins(self.config.distogram_min, self.config.distogram_max,
                              self.config.num_distogram_bins, device=points.device)
        bins = torch.bucketize(torch.cdist(points, points), edges)
        return F.one_hot(bins, self.config.num_distogram_bins).to(points.dtype)

    def _recycling_features(self, previous: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Additions to single and pair from the previous cycle's outputs (AlphaFold Algorithm 32)."""
        previous_single, previous_pair, previous_c4 = previous
        distance = self._binned_distances(previous_c4).to(previous_pair.dtype)
        return (self.recycle_single_norm(previous_single),
                self.recycle_pair_norm(previous_pair) + self.recycle_distance(distance))

    def _fold(self, single: torch.Tensor, pair: torch.Tensor, mask: torch.Tensor, initial_frames: Rigid | None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[Rigid]]:
        """Trunk blocks then structure module: trunk single, trunk pair, final single, frames per iteration."""
        for block in self.trunk:
            single, pair = block(single, pair, mask)
        final_single, trajectory = self.structure_module(single, pair, mask, initial_frames)
        return single, pair, final_single, trajectory

    def _check_inputs(self, input_ids: torch.Tensor, ss_probabilities: torch.Tensor | None,
                      ss_pairs: torch.Tensor | None, floor_rotations: torch.Tensor | None,
                      floor_translations: torch.Tensor | None) -> None:
        if input_ids.dim() != 2 or input_ids.shape[1] < 3:
            raise ValueError(
                f"input_ids must be (batch, length) with CLS and EOS around at least one residue, "
                f"got shape {tuple(input_ids.shape)}"
            )
        batch, length = input_ids.shape[0], input_ids.shape[1] - 2
        needed = {}
        if self.config.use_secondary_structure:
            needed.update(ss_probabilities=(ss_probabilities, (batch, length, length)),
                          ss_pairs=(ss_pairs, (batch, length, length)))
        if self.config.start_from_floor:
            needed.update(floor_rotations=(floor_rotations, (batch, length, 3, 3)),
                          floor_translations=(floor_translations, (batch, length, 3)))
        for name, (value, shape) in needed.items():
            if value is None:
                raise ValueError(
                    f"this model needs {name}: compute the inputs with "
                    "modeling_ssrlm.fold3d.features (compute_features + features_batch), or call model.fold(sequences)"
                )
            if tuple(value.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")

    def forward(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None,
                ss_probabilities: torch.Tensor | None = None, ss_pairs: torch.Tensor | None = None,
                floor_rotations: torch.Tensor | None = None, floor_translations: torch.Tensor | None = None,
                coords: torch.Tensor | None = None, atom_mask: torch.Tensor | None = None,
                **kwargs) -> StructurePredictionOutput:
        self._check_inputs(input_ids, ss_probabilities, ss_pairs, floor_rotations, floor_translations)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        floor = Rigid(floor_rotations, floor_translations) if self.config.start_from_floor else None
        single0, pair0, mask = self._embed(input_ids, attention_mask, ss_probabilities, ss_pairs, floor)
        is_purine = (input_ids[:, 1:-1] == _PURINE_IDS[0]) | (input_ids[:, 1:-1] == _PURINE_IDS[1])

        previous = None
        for cycle in range(self.config.num_recycles + 1):
            single, pair = single0, pair0
            if previous is not None:
                extra_single, extra_pair = self._recycling_features(previous)
                single, pair = single + extra_single, pair + extra_pair
            last_cycle = cycle == self.config.num_recycles
            with torch.set_grad_enabled(torch.is_grad_enabled() and last_cycle):
                trunk_single, trunk_pair, final_single, trajectory = self._fold(single, pair, mask, floor)
            if not last_cycle:
                c4 = trajectory[-1].trans
                previous = (trunk_single.detach(), trunk_pair.detach(), c4.detach())

        frames = trajectory[-1]
        positions = frames_to_atoms(frames, is_purine)
        distogram_logits = self.distogram_head(trunk_pair + trunk_pair.transpose(1, 2))
        plddt_logits = self.plddt_head(final_single)
        centers = plddt_bin_centers(self.config.num_plddt_bins, device=plddt_logits.device)
        plddt = (torch.softmax(plddt_logits, dim=-1) * centers).sum(-1)

        output = StructurePredictionOutput(
            positions=positions, frame_rotations=frames.rots, frame_translations=frames.trans,
            plddt=plddt, plddt_logits=plddt_logits, distogram_logits=distogram_logits, residue_mask=mask,
        )
        if floor is not None:
            output.floor_positions = frames_to_atoms(Rigid(floor.rots.to(positions.dtype),
                                                           floor.trans.to(positions.dtype)), is_purine)
            output.floor_plddt_logits = self.floor_plddt_head(final_single)
            if self.config.floor_plddt_calibration is None:
                output.floor_plddt = (torch.softmax(output.floor_plddt_logits, dim=-1) * centers).sum(-1)
            else:
                features = calibration_features(ss_probabilities.to(plddt.dtype), ss_pairs, mask)
                output.floor_plddt = calibrated_plddt(features, self.config.floor_plddt_calibration) * mask
        if coords is not None:
            self._add_losses(output, trajectory, is_purine, coords, atom_mask)
        return output

    @torch.no_grad()
    def fold(self, sequences: list[str], source=None) -> list[StructurePredictionOutput]:
        """Fold plain sequences one by one: 2D from ``source`` (default: the config's), floor, network.

        Returns one output per sequence (batch dimension 1, no padding).
        """
        from .features import compute_features, features_batch
        from .secondary import get_source

        source = get_source(source or self.config.secondary_structure_source)
        outputs = []
        for sequence in sequences:
            batch = features_batch([
                compute_features(sequence, source, self.config.floor_steps, self.config.floor_helix_extension)
            ])
            outputs.append(self(**{k: v.to(self.device) for k, v in batch.items()}))
        return outputs

    def _add_losses(self, output: StructurePredictionOutput, trajectory: list[Rigid], is_purine: torch.Tensor,
                    coords: torch.Tensor, atom_mask: torch.Tensor | None) -> None:
        if coords.shape != output.positions.shape:
            raise ValueError(f"coords must have shape {tuple(output.positions.shape)}, got {tuple(coords.shape)}")
        mask = output.residue_mask
        atom_mask = torch.ones(coords.shape[:-1], device=coords.device) if atom_mask is None else atom_mask
        atom_mask = atom_mask.to(coords.dtype) * mask[..., None]
        p, c4, n = (coords[:, :, index] for index in _FRAME_ATOMS)
        true_frames = Rigid.from_3_points(p, c4, n)
        frame_mask = atom_mask[:, :, list(_FRAME_ATOMS)].prod(-1)
        config = self.config
        fape_loss = torch.stack([
            fape(frames, frames_to_atoms(frames, is_purine), true_frames, coords, frame_mask, atom_mask,
                 config.fape_clamp, config.fape_length_scale)
            for frames in trajectory
        ]).mean()
        c4_mask = atom_mask[:, :, _C4]
        dist_loss = distogram_loss(output.distogram_logits, coords[:, :, _C4], c4_mask,
                                   config.distogram_min, config.distogram_max)
        conf_loss = plddt_loss(output.plddt_logits, output.positions[:, :, _C4], coords[:, :, _C4], c4_mask)
        lddt_loss = smooth_lddt_loss(output.positions[:, :, _C4], coords[:, :, _C4], c4_mask)
        output.fape_loss, output.distogram_loss, output.plddt_loss = fape_loss, dist_loss, conf_loss
        output.smooth_lddt_loss = lddt_loss
        output.loss = (config.fape_weight * fape_loss + config.distogram_weight * dist_loss
                       + config.plddt_weight * conf_loss + config.smooth_lddt_weight * lddt_loss)
        if output.floor_plddt_logits is not None:
            output.floor_plddt_loss = plddt_loss(output.floor_plddt_logits, output.floor_positions[:, :, _C4],
                                                 coords[:, :, _C4], c4_mask)
            output.loss = output.loss + config.plddt_weight * output.floor_plddt_loss


__all__ = ["SSRLMForStructurePrediction", "SSRLMStructurePreTrainedModel", "StructurePredictionOutput"]
