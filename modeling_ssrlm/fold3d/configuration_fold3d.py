"""Configuration of the tertiary-structure model: 2D-conditioned, starting from the A-form floor."""

from __future__ import annotations

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ..configuration_ssrlm import SSRLMConfig


@strict
class SSRLMStructureConfig(PreTrainedConfig):
    r"""Configuration of :class:`~modeling_ssrlm.fold3d.modeling_fold3d.SSRLMForStructurePrediction`.

    The encoder's configuration is nested as ``encoder_config`` (stored as a dict in
    ``config.json`` and rebuilt as an :class:`~modeling_ssrlm.configuration_ssrlm.SSRLMConfig`), the
    way transformers' composite models nest their sub-configs. (It is not called
    ``backbone_config`` because transformers reserves that name for vision backbones.)

    Args:
        encoder_config: configuration of the frozen SSR-LM encoder (dict or ``SSRLMConfig``); with
            ``use_encoder=False`` only its vocabulary and special-token ids are used.
        use_encoder: run the frozen SSR-LM encoder and feed its embeddings into the single
            representation; False gives an encoder-free model (learned nucleotide embeddings only).
        use_secondary_structure: feed the 2D channels (base-pair probabilities and decoded pairs, from
            ``secondary_structure_source``) into the pair representation, and per-residue pairing
            probability and paired flag into the single representation.
        start_from_floor: start the structure module from the frames of the A-form floor
            (:func:`~modeling_ssrlm.fold3d.geometry.floor_frames` on the decoded pairs) instead of
            identity frames; with the zero-initialised backbone update, an untrained model outputs
            the floor exactly.
        use_floor_distances: feed the floor's binned C4'-C4' distances into the pair representation
            (a template feature).
        secondary_structure_source: name of the 2D source (see :mod:`~modeling_ssrlm.fold3d.secondary`)
            the model is trained and run with.
        floor_steps: optimiser steps of the floor builder.
        floor_helix_extension: rounds of :func:`~modeling_ssrlm.fold3d.geometry.extend_helices` before
            the floor is built (each helix grows by up to this many stacked pairs at each end); 0, the
            default, is the floor of models saved before the field existed; new training runs use
            :data:`~modeling_ssrlm.fold3d.geometry.DEFAULT_HELIX_EXTENSION`.
        default_mode: what ``ssrlm fold3d`` writes with this model unless told otherwise: ``"network"``
            (the structure module's output) or ``"floor"`` (the A-form floor, with the floor's pLDDT).
        floor_plddt_calibration: coefficients of :data:`~modeling_ssrlm.fold3d.confidence.CALIBRATION_FEATURES`
            (``fold3d.py calibrate``); when set, the floor's pLDDT is this linear model of the 2D
            (:func:`~modeling_ssrlm.fold3d.confidence.calibrated_plddt`) instead of the floor pLDDT
            head's expectation. None (the default, and models saved before the field existed): the head.
        use_attention_maps: also feed the encoder's attention maps (all layers and heads) into the
            pair representation; needs the eager attention backend, so it is slower.
        single_dim / pair_dim: channels of the single and pair representations.
        outer_product_dim: channels of each factor of the outer product that seeds / updates ``z``.
        max_relative_position: relative positions are clipped to ``±max_relative_position``.
        num_trunk_blocks: pair/single update blocks (pair-biased attention + triangle updates).
        num_trunk_heads: heads of the single-representation attention in the trunk.
        num_ipa_heads / ipa_head_dim / ipa_query_points / ipa_value_points: IPA sizes.
        num_structure_iterations: iterations of the structure module (weights shared).
        position_scale: the backbone update predicts translations in units of this many Å.
        num_distogram_bins / distogram_min / distogram_max: C4'-C4' distance bins (Å).
        num_plddt_bins: equal-width lDDT bins on [0, 1].
        fape_clamp / fape_length_scale: FAPE clamp and divisor (Å).
        fape_weight / distogram_weight / plddt_weight / smooth_lddt_weight: loss weights (the
            pLDDT weight applies to both pLDDT heads, network and floor; smooth lDDT is AlphaFold 3's
            differentiable C4' lDDT, used as ``1 - smooth lDDT``).
        num_recycles: extra passes through trunk and structure module, feeding back the single and
            pair representations and the predicted C4' distances (0 disables recycling).
    """

    model_type = "ssrlm_structure"
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=SSRLMConfig)}

    encoder_config: dict | PreTrainedConfig | None = None
    use_encoder: bool = True
    use_secondary_structure: bool = True
    start_from_floor: bool = True
    use_floor_distances: bool = True
    secondary_structure_source: str = "viennarna"
    floor_steps: int = 400
    floor_helix_extension: int = 0
    default_mode: str = "network"
    floor_plddt_calibration: list[float] | None = None
    use_attention_maps: bool = False
    single_dim: int = 128
    pair_dim: int = 64
    outer_product_dim: int = 16
    max_relative_position: int = 32
    num_trunk_blocks: int = 2
    num_trunk_heads: int = 4
    num_ipa_heads: int = 4
    ipa_head_dim: int = 16
    ipa_query_points: int = 4
    ipa_value_points: int = 8
    num_structure_iterations: int = 4
    position_scale: float = 10.0
    num_distogram_bins: int = 40
    distogram_min: float = 2.0
    distogram_max: float = 40.0
    num_plddt_bins: int = 50
    fape_clamp: float = 10.0
    fape_length_scale: float = 10.0
    fape_weight: float = 1.0
    distogram_weight: float = 0.3
    plddt_weight: float = 0.1
    smooth_lddt_weight: float = 0.0
    num_recycles: int = 0
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        for name in ("single_dim", "pair_dim", "outer_product_dim", "num_trunk_heads", "num_ipa_heads",
                     "ipa_head_dim", "ipa_query_points", "ipa_value_points", "num_structure_iterations",
                     "num_distogram_bins", "num_plddt_bins"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.single_dim % self.num_trunk_heads:
            raise ValueError(
                f"single_dim ({self.single_dim}) must be divisible by num_trunk_heads ({self.num_trunk_heads})"
            )
        if self.num_trunk_blocks < 0 or self.num_recycles < 0 or self.floor_helix_extension < 0:
            raise ValueError("num_trunk_blocks, num_recycles and floor_helix_extension must be >= 0")
        if self.default_mode not in ("network", "floor"):
            raise ValueError(f"default_mode must be 'network' or 'floor', got {self.default_mode!r}")
        if self.floor_plddt_calibration is not None:
            from .confidence import CALIBRATION_FEATURES

            values = list(self.floor_plddt_calibration)
            if len(values) != len(CALIBRATION_FEATURES) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
            ):
                raise ValueError(f"floor_plddt_calibration must be {len(CALIBRATION_FEATURES)} finite numbers "
                                 f"{CALIBRATION_FEATURES}, got {self.floor_plddt_calibration!r}")
            if not (self.start_from_floor and self.use_secondary_structure):
                raise ValueError("floor_plddt_calibration needs start_from_floor=True and use_secondary_structure=True")
        if self.use_attention_maps and not self.use_encoder:
            raise ValueError("use_attention_maps needs the encoder (use_encoder=True)")
        if self.use_floor_distances and not self.start_from_floor:
            raise ValueError("use_floor_distances needs start_from_floor=True")
        if not 0 < self.distogram_min < self.distogram_max:
            raise ValueError(f"need 0 < distogram_min < distogram_max, got {self.distogram_min}, {self.distogram_max}")


__all__ = ["SSRLMStructureConfig"]
