"""Import the repository's scripts (``train_mlm.py``, ``data_scripts/…``), which are not part of the package.

The one loader lives in the package, where the masking ablation runs the same scripts in-process.
"""

from modeling_ssrlm.evaluation.masking_ablation import load_script

__all__ = ["load_script"]
