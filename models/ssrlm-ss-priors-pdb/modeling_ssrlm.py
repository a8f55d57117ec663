"""SSR-LM: a bidirectional LLaMA-2-style encoder for RNA with a masked-LM head.

The blocks are LLaMA-2's (pre-norm RMSNorm, rotary position embeddings, grouped-query attention,
SwiGLU MLP) without the causal mask. The numerics come from transformers' own Llama building blocks
(``LlamaRMSNorm``, ``LlamaRotaryEmbedding``, ``LlamaMLP``, ``apply_rotary_pos_emb``) and attention
goes through transformers' attention interface (``ALL_ATTENTION_FUNCTIONS``), so SDPA (default),
eager (returns attention probabilities) and flash-attention (when installed) are all available.

Packing: one row may hold several sequences. As in transformers' ``DataCollatorWithFlattening``,
each sequence is marked by ``position_ids`` that restart at 0; rotary positions then restart per
sequence and attention is restricted to tokens of the same sequence (a block-diagonal mask for
SDPA/eager, varlen kernels for flash-attention), so a packed row gives the same per-token outputs as
its sequences run one by one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import torch
from torch import nn
from safetensors import SafetensorError
from transformers import PreTrainedModel
from transformers.dynamic_module_utils import custom_object_save
from transformers.masking_utils import (
    create_bidirectional_mask,
    find_packed_sequence_indices,
    packed_sequence_mask_function,
)
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.llama.modeling_llama import (
    LlamaMLP,
    LlamaRMSNorm,
    LlamaRotaryEmbedding,
    apply_rotary_pos_emb,
    eager_attention_forward,
)
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, torch_compilable_check
from transformers.utils.generic import can_return_tuple, merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from .configuration_ssrlm import SSRLMConfig

#: Label of positions (tokens, or pair-map entries) that no loss reads: PyTorch's cross-entropy ``ignore_index``.
IGNORE_INDEX = -100


class SSRLMAttention(nn.Module):
    """Bidirectional multi-head attention with rotary positions and grouped-query key/value heads."""

    def __init__(self, config: SSRLMConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_key_value_groups = config.num_attention_heads // config.num_key_value_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.is_causal = False  # read by the SDPA and flash-attention integrations

        self.q_proj = nn.Linear(config.hidden_size, config.num_attention_heads * self.head_dim, bias=config.attention_bias)
        self.k_proj = nn.Linear(config.hidden_size, config.num_key_value_heads * self.head_dim, bias=config.attention_bias)
        self.v_proj = nn.Linear(config.hidden_size, config.num_key_value_heads * self.head_dim, bias=config.attention_bias)
        self.o_proj = nn.Linear(config.num_attention_heads * self.head_dim, config.hidden_size, bias=config.attention_bias)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)

        query_states = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key_states = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value_states = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)

        cos, sin = position_embeddings
        query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            is_causal=False,
            **kwargs,
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.o_proj(attn_output), attn_weights


class SSRLMLayer(GradientCheckpointingLayer):
    """One pre-norm block: ``x + Attn(RMSNorm(x))`` then ``x + SwiGLU(RMSNorm(x))``."""

    def __init__(self, config: SSRLMConfig, layer_idx: int):
        super().__init__()
        self.self_attn = SSRLMAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attn_output, _ = self.self_attn(
            self.input_layernorm(hidden_states), position_embeddings, attention_mask=attention_mask, **kwargs
        )
        hidden_states = hidden_states + self.dropout(attn_output)
        return hidden_states + self.dropout(self.mlp(self.post_attention_layernorm(hidden_states)))


class SSRLMPreTrainedModel(PreTrainedModel):
    """Weight initialisation, attention-backend flags and checkpoint plumbing shared by all SSR-LM models."""

    config_class = SSRLMConfig
    config: SSRLMConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["SSRLMLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _can_record_outputs = {"hidden_states": SSRLMLayer, "attentions": SSRLMAttention}

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load as usual, with clear errors for a checkpoint of another model type or corrupt weights."""
        if kwargs.get("config") is None:
            _check_model_type(pretrained_model_name_or_path, cls.config_class.model_type)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as error:
            raise OSError(
                f"the weights in {pretrained_model_name_or_path} cannot be read: the safetensors file is "
                f"truncated or corrupt ({error}); re-download or re-save the model"
            ) from error

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual, plus the encoder's code and an ``auto_map`` for it.

        Every SSR-LM folder (bare encoder, MLM, pair head, contact head) then loads its encoder with
        ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` where this package is not
        installed. transformers itself only records the saved class, and a task model would inherit
        stale entries from the checkpoint it was fine-tuned from, so the map is rebuilt here; the
        saved class adds its own entry when it is registered for an Auto class.
        """
        encoder = self if isinstance(self, SSRLMModel) else self.model
        module = type(encoder).__module__.rsplit(".", 1)[-1]
        self.config.auto_map = {
            "AutoConfig": f"{module.replace('modeling', 'configuration', 1)}.{type(self.config).__name__}",
            "AutoModel": f"{module}.{type(encoder).__name__}",
        }
        output = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            custom_object_save(encoder, save_directory)
        return output


def _check_model_type(path, expected: str) -> None:
    """Raise ``ValueError`` if a local checkpoint folder holds a config of another model type."""
    config_file = os.path.join(os.fspath(path), "config.json")
    if not os.path.isfile(config_file):
        return
    try:
        with open(config_file, encoding="utf-8") as handle:
            model_type = json.load(handle).get("model_type")
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{config_file} is not a readable JSON model config: {error}") from error
    if model_type != expected:
        raise ValueError(
            f"{path} holds a {model_type!r} checkpoint, not an {expected!r} one; "
            "load it with its own model class (or AutoModel)"
        )


class SSRLMModel(SSRLMPreTrainedModel):
    """The bare encoder: token embeddings → ``num_hidden_layers`` blocks → final RMSNorm.

    ``last_hidden_state`` has one vector per input token, ``[CLS]`` and ``[EOS]`` included.
    """

    def __init__(self, config: SSRLMConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.layers = nn.ModuleList(SSRLMLayer(config, index) for index in range(config.num_hidden_layers))
        self.norm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = LlamaRotaryEmbedding(config=config)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutput:
        r"""
        Args:
            input_ids: ``(batch, length)`` token ids from :class:`~modeling_ssrlm.SSRLMTokenizer`.
            attention_mask: ``(batch, length)``, 1 for real tokens and 0 for padding.
            position_ids: ``(batch, length)``; positions restarting at 0 mark the start of each packed
                sequence (attention then stays within each sequence). Defaults to ``0 … length-1``.
            inputs_embeds: precomputed input embeddings, instead of ``input_ids``.
            output_attentions / output_hidden_states: return per-layer attention probabilities (eager
                backend only) / hidden states.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            self._check_input_ids(input_ids)
            inputs_embeds = self.embed_tokens(input_ids)
        if position_ids is None:
            position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device).unsqueeze(0)

        mask = self._attention_mask(inputs_embeds, attention_mask, position_ids)
        position_embeddings = self.rotary_emb(inputs_embeds, position_ids=position_ids)
        hidden_states = inputs_embeds
        for layer in self.layers:
            hidden_states = layer(
                hidden_states, position_embeddings, attention_mask=mask, position_ids=position_ids, **kwargs
            )
        return BaseModelOutput(last_hidden_state=self.norm(hidden_states))

    def _check_input_ids(self, input_ids: torch.Tensor) -> None:
        """Fail with a readable message instead of an index error deep inside ``nn.Embedding``.

        ``torch_compilable_check`` raises this ``ValueError`` in eager mode. Under ``torch.compile`` and
        ``torch.export``, where a Python ``if`` on tensor values would break the graph, it becomes a runtime
        assertion in the graph (a ``RuntimeError`` without this message).
        """
        vocab_size = self.config.vocab_size
        torch_compilable_check(
            (input_ids >= 0) & (input_ids < vocab_size),
            lambda: (
                f"input_ids must lie in [0, {vocab_size}), got values in "
                f"[{int(input_ids.min())}, {int(input_ids.max())}]; were they made by SSRLMTokenizer?"
            ),
        )

    def _attention_mask(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None, position_ids: torch.Tensor
    ) -> torch.Tensor | None:
        """Build the backend-specific bidirectional mask, block-diagonal when rows are packed.

        Packed rows are detected from ``position_ids`` (a position that does not follow its predecessor
        starts a new sequence). Padding marked by ``attention_mask`` then becomes a segment of its own,
        so no query row is ever fully masked (which would give NaNs in SDPA). Flash-attention receives
        the 2D mask and gets the sequence boundaries from ``position_ids`` (varlen kernels).
        """
        if self.config._attn_implementation.startswith("flash"):
            return attention_mask
        batch_size = inputs_embeds.shape[0]
        segments = find_packed_sequence_indices(position_ids.expand(batch_size, -1))
        if segments is None:
            return create_bidirectional_mask(self.config, inputs_embeds, attention_mask)
        if attention_mask is not None:
            segments = segments.masked_fill(attention_mask == 0, -1)
        return create_bidirectional_mask(
            self.config, inputs_embeds, None, and_mask_function=packed_sequence_mask_function(segments)
        )


class SSRLMForMaskedLM(SSRLMPreTrainedModel):
    """SSR-LM encoder with a linear masked-LM head (optionally tied to the input embeddings)."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: SSRLMConfig):
        super().__init__(config)
        self.model = SSRLMModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MaskedLMOutput:
        r"""
        labels: ``(batch, length)`` original token ids at masked positions and -100 elsewhere; the loss
            is the mean cross-entropy over the positions whose label is not -100, or the sum divided by
            ``num_items_in_batch`` when the ``Trainer`` passes it (exact under gradient accumulation).
        """
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        outputs: BaseModelOutput = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        )
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.vocab_size, num_items_in_batch=num_items_in_batch
            )
        return MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


__all__ = ["IGNORE_INDEX", "SSRLMPreTrainedModel", "SSRLMModel", "SSRLMForMaskedLM"]
