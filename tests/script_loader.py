"""Import the repository's scripts (``train_mlm.py``, ``data_scripts/…``), which are not part of the package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str) -> ModuleType:
    """Import ``REPO_ROOT/relative_path`` as a module named after the file, once per test session.

    The module is registered in ``sys.modules`` (dataclasses look their module up there while it
    executes) and later calls return that same object: two copies of one script would hold two
    distinct classes of the same name, which pickling (``torch.save`` of training arguments) rejects.
    """
    path = REPO_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    loaded = sys.modules.get(spec.name)
    if loaded is not None and Path(getattr(loaded, "__file__", "")) == path:
        return loaded
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
