"""The layout rule: top-level modules of ``modeling_ssrlm`` are what a released folder carries.

They import only each other, the standard library and torch / transformers / tokenizers / numpy
(plus safetensors and huggingface_hub, which transformers itself needs); optional tools are imported
lazily inside the one function that needs them. ``import modeling_ssrlm`` stays light, and a wheel
built from the repository carries the default model.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "modeling_ssrlm"
SUBPACKAGES = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
ALLOWED_THIRD_PARTY = {"torch", "transformers", "tokenizers", "numpy", "safetensors", "huggingface_hub"}
#: Imported inside a function, only where that function needs it.
LAZY_OPTIONAL = {"networkx", "RNA"}
SHIPPED_MODULES = sorted(path for path in PACKAGE.glob("*.py") if path.name != "__init__.py")


def _imports(path: Path) -> list[tuple[ast.stmt, bool]]:
    """Every import statement of ``path`` with whether it sits at module level."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    return [(node, id(node) in top_level) for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


@pytest.mark.parametrize("path", SHIPPED_MODULES, ids=lambda p: p.name)
def test_shipped_modules_import_only_siblings_and_the_core_stack(path):
    for node, top_level in _imports(path):
        if isinstance(node, ast.ImportFrom) and node.level:
            assert node.level == 1 and (node.module or "").split(".")[0] not in SUBPACKAGES, (
                f"{path.name}:{node.lineno} imports a pipeline subpackage; shipped modules import only siblings"
            )
            continue
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
        for name in names:
            root = name.split(".")[0]
            if root in sys.stdlib_module_names or root == "__future__" or root in ALLOWED_THIRD_PARTY:
                continue
            assert root in LAZY_OPTIONAL and not top_level, f"{path.name}:{node.lineno} imports {name}"


def test_import_loads_no_heavy_optional_library():
    code = (
        "import sys, modeling_ssrlm; "
        "print([m for m in ('sklearn', 'networkx', 'biotite', 'matplotlib', 'pandas', 'datasets', 'RNA') if m in sys.modules])"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("folder", ["ssrlm-8m", (REPO / "models" / "DEFAULT").read_text().strip()])
def test_released_folders_carry_only_shipped_modules(folder):
    shipped = {path.name for path in SHIPPED_MODULES}
    carried = {path.name for path in (REPO / "models" / folder).glob("*.py")}
    assert carried <= shipped, f"{folder} carries non-shipped code: {sorted(carried - shipped)}"
    auto_map = json.loads((REPO / "models" / folder / "config.json").read_text())["auto_map"]
    assert {entry.split(".")[0] + ".py" for entry in auto_map.values()} <= carried


@pytest.mark.slow
def test_wheel_carries_the_default_models_and_only_the_current_package(tmp_path):
    source = tmp_path / "source"  # a clean copy: an in-tree build/ folder could hold stale modules
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((REPO / name).read_bytes())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("ssrlm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    default = REPO / "models" / (REPO / "models" / "DEFAULT").read_text().strip()
    for slot, folder in (("default", default), ("fold3d", REPO / "models" / "ssrlm-fold3d")):
        for path in folder.iterdir():
            assert f"modeling_ssrlm/pretrained/{slot}/{path.name}" in names
    modules = {name for name in names if name.endswith(".py") and "/pretrained/" not in name}
    assert modules == {name for name in tracked if name.startswith("modeling_ssrlm/") and name.endswith(".py")} | {"ssrlm_cli.py"}
