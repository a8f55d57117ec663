"""ssrlm: structure-aware RNA language models, native to Hugging Face Transformers.

Importing this package registers the ``ssrlm`` model type with transformers' Auto classes
(``AutoConfig``, ``AutoModel``, ``AutoModelForMaskedLM``, ``AutoTokenizer``; the pair-prediction head
with this package's :class:`AutoModelForPairPrediction`, since transformers has no Auto class for an
``L × L`` output; the 3D model ``ssrlm_structure`` with ``AutoConfig``/``AutoModel``), and marks the
encoder, MLM, pair-prediction and tokenizer classes for ``auto_map`` so that their saved folders also
load with ``trust_remote_code=True`` where this package is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer

from .configuration_ssrlm import PRESETS, SSRLMConfig
from .fold3d.configuration_fold3d import SSRLMStructureConfig
from .fold3d.modeling_fold3d import SSRLMForStructurePrediction
from .modeling_ssrlm import SSRLMForMaskedLM, SSRLMModel, SSRLMPreTrainedModel
from .modeling_ssrlm_pair import AutoModelForPairPrediction, SSRLMForPairPrediction
from .tokenization_ssrlm import SSRLMTokenizer, normalize_sequence
from .modeling_ssrlm_contact import SSRLMForContactRegression

__version__ = "0.1.0"


def _register_auto_classes() -> None:
    """Register the ``ssrlm`` classes with the Auto factories and for ``auto_map`` export."""
    AutoConfig.register(SSRLMConfig.model_type, SSRLMConfig, exist_ok=True)
    AutoModel.register(SSRLMConfig, SSRLMModel, exist_ok=True)
    AutoModelForMaskedLM.register(SSRLMConfig, SSRLMForMaskedLM, exist_ok=True)
    AutoTokenizer.register(SSRLMConfig, tokenizer_class=SSRLMTokenizer, exist_ok=True)
    SSRLMConfig.register_for_auto_class()
    SSRLMModel.register_for_auto_class("AutoModel")
    SSRLMForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")
    SSRLMTokenizer.register_for_auto_class("AutoTokenizer")
    AutoModelForPairPrediction.register(SSRLMConfig, SSRLMForPairPrediction, exist_ok=True)
    # ``register_for_auto_class`` accepts only transformers' own Auto classes; this is what it sets.
    SSRLMForPairPrediction._auto_class = AutoModelForPairPrediction.__name__
    AutoConfig.register(SSRLMStructureConfig.model_type, SSRLMStructureConfig, exist_ok=True)
    AutoModel.register(SSRLMStructureConfig, SSRLMForStructurePrediction, exist_ok=True)


_register_auto_classes()


def __getattr__(name: str):
    """Import the training-side exports on first use, so ``import modeling_ssrlm`` stays light."""
    if name == "DataCollatorForSSM":
        from .data.mlm_collator import DataCollatorForSSM

        return DataCollatorForSSM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AutoModelForPairPrediction",
    "DataCollatorForSSM",
    "PRESETS",
    "SSRLMConfig",
    "SSRLMForContactRegression",
    "SSRLMForMaskedLM",
    "SSRLMForPairPrediction",
    "SSRLMForStructurePrediction",
    "SSRLMModel",
    "SSRLMPreTrainedModel",
    "SSRLMStructureConfig",
    "SSRLMTokenizer",
    "normalize_sequence",
]
