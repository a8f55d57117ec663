"""Configuration of SSR-LM, a bidirectional LLaMA-2-style encoder for RNA.

Field names follow transformers' ``LlamaConfig`` so that tooling written for Llama (tensor-parallel
plans, attention backends, rotary scaling utilities) reads our configs unchanged.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .tokenization_ssrlm import VOCAB

# Presets of the paper (METHOD.md §1). ``intermediate_size`` was chosen so that the parameter counts
# (embeddings + blocks + MLM head, untied) land on the paper's sizes:
#   ssrlm-8m   : 6 × (4·288² + 3·288·1152)       + heads ≈ 7.97 M
#   ssrlm-150m : 12 × (4·1056² + 3·1056·2560)    + heads ≈ 150.9 M
#   ssrlm-650m : 33 × (4·1280² + 3·1280·3456)    + heads ≈ 654.1 M
# ``tests/test_configuration.py`` checks the counts against 8M / 150M / 650M (±15%).
PRESETS: dict[str, dict[str, int]] = {
    "ssrlm-8m": {"num_hidden_layers": 6, "hidden_size": 288, "num_attention_heads": 6, "intermediate_size": 1152},
    "ssrlm-150m": {
        "num_hidden_layers": 12,
        "hidden_size": 1056,
        "num_attention_heads": 12,
        "intermediate_size": 2560,
    },
    "ssrlm-650m": {
        "num_hidden_layers": 33,
        "hidden_size": 1280,
        "num_attention_heads": 20,
        "intermediate_size": 3456,
    },
}

# Not a paper size: a small encoder for experiments that must run on a few CPU cores (the masking
# ablation, benchmarks/masking_ablation.py). Kept apart from PRESETS, which is the paper's table;
# ``from_preset`` and the training scripts accept both (ALL_PRESETS).
#   ssrlm-1m   : 6 × (4·128² + 3·128·256)        + heads ≈ 0.99 M (987,008)
SMALL_PRESETS: dict[str, dict[str, int]] = {
    "ssrlm-1m": {"num_hidden_layers": 6, "hidden_size": 128, "num_attention_heads": 4, "intermediate_size": 256},
}
ALL_PRESETS: dict[str, dict[str, int]] = {**PRESETS, **SMALL_PRESETS}


# Kept literal (not imported from postprocess.py / thermodynamics.py) so that this file stays
# self-contained for ``trust_remote_code`` loading; tests check them against those modules.
PAIR_MATCHING_METHODS = ("greedy", "max_weight", "none")
PAIR_PRIOR_CHANNELS = tuple(
    f"{kind}:{parameter_set}"
    for parameter_set in ("turner2004", "turner1999", "andronescu2007", "langdon2018")
    for kind in ("bpp", "mfe")
)
PAIR_DECODERS = ("threshold", "vienna_mfe", "vienna_mea")
PAIR_DECODER_TRANSFORMS = ("logodds", "probability")
PAIR_DECODER_EXTRA_PAIRS = ("crossing", "any")
PAIR_NONCANONICAL_PLACEMENTS = ("anywhere", "stacked")


@strict
class SSRLMConfig(PreTrainedConfig):
    r"""Configuration of an SSR-LM encoder (:class:`~modeling_ssrlm.SSRLMModel`).

    Args:
        vocab_size: number of tokens (4 nucleotides + 5 special tokens).
        hidden_size: width of the residual stream.
        intermediate_size: width of the SwiGLU feed-forward layer.
        num_hidden_layers: number of transformer blocks; 0 leaves token embeddings + the final RMSNorm,
            which makes a pair model without a language model (the baseline for prior channels).
        num_attention_heads: number of query heads.
        num_key_value_heads: number of key/value heads for grouped-query attention; defaults to
            ``num_attention_heads`` (plain multi-head attention). Must divide ``num_attention_heads``.
        head_dim: per-head width; defaults to ``hidden_size // num_attention_heads``.
        hidden_act: activation of the gated MLP (``"silu"`` gives SwiGLU).
        max_position_embeddings: the longest input seen in pre-training (packed rows of 1024 tokens).
            Rotary positions extrapolate beyond it, so it is not a hard limit.
        rope_parameters: rotary embedding settings, transformers' format
            (``{"rope_type": "default", "rope_theta": 10000.0}``).
        rms_norm_eps: epsilon of the RMSNorm layers.
        attention_dropout: dropout on attention probabilities (eager backend and SDPA).
        hidden_dropout: dropout on each block's attention and MLP outputs before the residual add.
        attention_bias / mlp_bias: biases in the projections (LLaMA-2 uses none).
        initializer_range: standard deviation of the normal weight initialisation.
        tie_word_embeddings: share the input embedding matrix with the MLM output projection.
        pad_token_id / mask_token_id / bos_token_id / eos_token_id / unk_token_id: special-token ids
            (``bos`` is ``[CLS]``); they must match :class:`~modeling_ssrlm.SSRLMTokenizer`.
    """

    model_type = "ssrlm"
    base_model_tp_plan = {
        "layers.*.self_attn.q_proj": "colwise",
        "layers.*.self_attn.k_proj": "colwise",
        "layers.*.self_attn.v_proj": "colwise",
        "layers.*.self_attn.o_proj": "rowwise",
        "layers.*.mlp.gate_proj": "colwise",
        "layers.*.mlp.up_proj": "colwise",
        "layers.*.mlp.down_proj": "rowwise",
    }

    vocab_size: int = len(VOCAB)
    hidden_size: int = 288
    intermediate_size: int = 1152
    num_hidden_layers: int = 6
    num_attention_heads: int = 6
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    hidden_act: str = "silu"
    max_position_embeddings: int = 1024
    rope_parameters: dict | None = None
    rms_norm_eps: float = 1e-5
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0
    attention_bias: bool = False
    mlp_bias: bool = False
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False
    pad_token_id: int | None = VOCAB["[PAD]"]
    mask_token_id: int | None = VOCAB["[MASK]"]
    bos_token_id: int | None = VOCAB["[CLS]"]
    eos_token_id: int | None = VOCAB["[EOS]"]
    unk_token_id: int | None = VOCAB["[UNK]"]

    # ---- Pair (secondary-structure) head: read only by ``SSRLMForPairPrediction`` (modeling_ssrlm_pair.py)
    # ---- and the attention contact head (unsupervised.py); the encoder ignores them. The decision
    # ---- settings (threshold, post-processing) live here, never in the state dict, so save_pretrained
    # ---- / from_pretrained keep them with the model.
    pair_hidden_channels: int = 32  # channels of the pair features and of the 2D ResNet
    pair_num_blocks: int = 4  # residual blocks, two k×k convolutions each
    pair_kernel_size: int = 3  # odd convolution kernel size
    pair_dilations: list[int] | tuple[int, ...] = (1, 2, 4, 8)  # block b uses pair_dilations[b % len]
    pair_norm: str = "instance"  # "instance" (per-sequence, padding-masked) or "none"
    # Read-out of the last block: "relu" (norm → ReLU → 1×1 conv, as first released) or "none" (norm →
    # 1×1 conv). After a ReLU, a read-out whose weights all turn negative caps every logit at its bias
    # (a ceiling, and ties among the top pairs); the linear read-out cannot do that.
    pair_output_activation: str = "relu"
    pair_pos_weight: float = 1.0  # BCE weight of the positive (paired) entries
    # Entries with j - i below this are not trained on. 0 (the default) trains the main diagonal as
    # negatives: a model that never sees (i, i) learns ~1 there, and an exact repeat at offset k copies
    # that onto (i, i + k). Probabilities with |i - j| below max(this, 1) are 0 (no base pairs with itself).
    pair_min_separation: int = 0
    pair_threshold: float = 0.5  # decision threshold on pair probabilities (tuned on a validation split)
    pair_postprocess: bool = True  # apply the three rules below after thresholding
    pair_canonical_only: bool = False  # keep only AU/GC/GU pairs
    pair_min_loop_length: int = 3  # keep pairs with j - i > this (no sharp hairpins)
    pair_matching: str = "greedy"  # one partner per base: "greedy", "max_weight" or "none"
    # ---- Inputs besides the encoder (thermodynamics.py), projected by a 1×1 convolution and added
    # ---- to the pair features. Empty/False (the defaults) build exactly the model without them.
    pair_prior_channels: list[str] | tuple[str, ...] = ()  # e.g. ["bpp:turner2004", "mfe:turner2004"]
    pair_sequence_features: bool = False  # add the one-hot identity of each base pair (16 channels)
    # ---- Decoding (decode_pairs): "threshold" = threshold + the rules above (postprocess.py);
    # ---- "vienna_mfe" / "vienna_mea" = ViennaRNA MFE / MEA structure with the probabilities as soft
    # ---- constraints, then confident pairs (p > pair_threshold) added: only those crossing the nested
    # ---- structure (pseudoknots, pair_decoder_extra_pairs="crossing") or any ("any": non-canonical too).
    pair_decoder: str = "threshold"
    pair_decoder_transform: str = "logodds"  # pseudo-energy: -scale·log(p/(1-p)) or "probability": -scale·p
    pair_decoder_scale: float = 0.5  # kcal/mol per transform unit; best on bpRNA VL0 (benchmarks/prior_channels.py)
    pair_decoder_mea_gamma: float = 1.0  # MEA weight of paired vs unpaired bases ("vienna_mea")
    pair_decoder_extra_pairs: str = "crossing"  # second pass of the ViennaRNA decoders: "crossing" or "any"
    # Third pass of the ViennaRNA decoders: non-canonical pairs (no energy model gives them) with
    # p > this are added where both bases are still unpaired; None = no such pass. Meant for models
    # trained on 3D-derived structures, chosen on validation (None when the pass does not help there).
    pair_noncanonical_threshold: float | None = None
    # Where that pass may add a pair: "anywhere", or "stacked" on a pair already decoded (a helix-end
    # or 1×1 internal-loop mismatch, where most non-triple non-canonical pairs of PDB structures sit).
    pair_noncanonical_placement: str = "anywhere"

    def __post_init__(self, **kwargs):
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None and self.num_attention_heads and self.hidden_size % self.num_attention_heads == 0:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.rope_parameters is None:
            self.rope_parameters = {"rope_type": "default", "rope_theta": 10000.0}
        # Checked here as well as by ``@strict`` so that users get a plain ``ValueError`` at construction.
        self.validate_architecture()
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Reject shapes the encoder cannot build (``ValueError`` with the offending numbers)."""
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_attention_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.num_hidden_layers, int) or self.num_hidden_layers < 0:
            raise ValueError(f"num_hidden_layers must be a non-negative integer, got {self.num_hidden_layers!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.num_key_value_heads <= 0 or self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be a multiple of num_key_value_heads "
                f"({self.num_key_value_heads}) for grouped-query attention"
            )
        if self.head_dim is None or self.head_dim % 2 != 0:
            raise ValueError(f"head_dim ({self.head_dim}) must be even for rotary position embeddings")
        for name in ("attention_dropout", "hidden_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        # Pair head (see the ``pair_`` fields).
        for name in ("pair_hidden_channels", "pair_num_blocks", "pair_kernel_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.pair_min_separation, int) or self.pair_min_separation < 0:
            raise ValueError(f"pair_min_separation must be a non-negative integer, got {self.pair_min_separation!r}")
        if self.pair_kernel_size % 2 != 1:
            raise ValueError(f"pair_kernel_size must be odd (same-size convolutions), got {self.pair_kernel_size}")
        if not self.pair_dilations or any(not isinstance(d, int) or d <= 0 for d in self.pair_dilations):
            raise ValueError(f"pair_dilations must be a non-empty list of positive integers, got {self.pair_dilations!r}")
        if self.pair_output_activation not in ("relu", "none"):
            raise ValueError(f"pair_output_activation must be 'relu' or 'none', got {self.pair_output_activation!r}")
        if self.pair_norm not in ("instance", "none"):
            raise ValueError(f"pair_norm must be 'instance' or 'none', got {self.pair_norm!r}")
        if not self.pair_pos_weight > 0:
            raise ValueError(f"pair_pos_weight must be positive, got {self.pair_pos_weight}")
        if not 0.0 <= self.pair_threshold <= 1.0:
            raise ValueError(f"pair_threshold must be in [0, 1], got {self.pair_threshold}")
        if not isinstance(self.pair_min_loop_length, int) or self.pair_min_loop_length < 0:
            raise ValueError(f"pair_min_loop_length must be a non-negative integer, got {self.pair_min_loop_length!r}")
        if self.pair_matching not in PAIR_MATCHING_METHODS:
            raise ValueError(f"pair_matching must be one of {PAIR_MATCHING_METHODS}, got {self.pair_matching!r}")
        self.validate_pair_inputs_and_decoder()

    def validate_pair_inputs_and_decoder(self):
        """Reject unknown or repeated prior channels and bad decoder settings (``ValueError``)."""
        channels = self.pair_prior_channels
        if isinstance(channels, str) or any(channel not in PAIR_PRIOR_CHANNELS for channel in channels):
            raise ValueError(
                f"pair_prior_channels must be a list of known channels, got {channels!r}; "
                f"known channels: {', '.join(PAIR_PRIOR_CHANNELS)}"
            )
        if len(set(channels)) != len(channels):
            raise ValueError(f"pair_prior_channels must not repeat a channel, got {list(channels)}")
        if self.pair_decoder not in PAIR_DECODERS:
            raise ValueError(f"pair_decoder must be one of {PAIR_DECODERS}, got {self.pair_decoder!r}")
        if self.pair_decoder_extra_pairs not in PAIR_DECODER_EXTRA_PAIRS:
            raise ValueError(
                f"pair_decoder_extra_pairs must be one of {PAIR_DECODER_EXTRA_PAIRS}, got {self.pair_decoder_extra_pairs!r}"
            )
        if self.pair_decoder_transform not in PAIR_DECODER_TRANSFORMS:
            raise ValueError(
                f"pair_decoder_transform must be one of {PAIR_DECODER_TRANSFORMS}, got {self.pair_decoder_transform!r}"
            )
        if self.pair_noncanonical_placement not in PAIR_NONCANONICAL_PLACEMENTS:
            raise ValueError(
                f"pair_noncanonical_placement must be one of {PAIR_NONCANONICAL_PLACEMENTS}, "
                f"got {self.pair_noncanonical_placement!r}"
            )
        threshold = self.pair_noncanonical_threshold
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
            raise ValueError(f"pair_noncanonical_threshold must be None or in [0, 1], got {threshold!r}")
        for name in ("pair_decoder_scale", "pair_decoder_mea_gamma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "SSRLMConfig":
        """Build the configuration of a named preset (``"ssrlm-8m"``, ``"ssrlm-150m"``, ``"ssrlm-650m"``,
        or the small ``"ssrlm-1m"`` of :data:`SMALL_PRESETS`).

        Keyword arguments override preset fields, e.g. ``from_preset("ssrlm-8m", num_key_value_heads=2)``.
        """
        if name not in ALL_PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(ALL_PRESETS)}")
        return cls(**{**ALL_PRESETS[name], **overrides})


__all__ = ["SSRLMConfig", "PRESETS", "SMALL_PRESETS", "ALL_PRESETS"]
