"""Build hook: the wheel carries the default model, so ``ssrlm predict`` works outside the repository.

Metadata lives in ``setup.cfg``. ``models/DEFAULT`` names the released folder under ``models/`` that
``ssrlm predict`` uses by default; ``build_py`` copies it into the built package as
``modeling_ssrlm/pretrained/default`` (see :func:`modeling_ssrlm.cli.default_model_dir`), and the
3D model ``models/ssrlm-fold3d`` (``ssrlm fold3d``'s default) as ``modeling_ssrlm/pretrained/fold3d``.
A source checkout or an editable install reads ``models/`` directly, so no folder is kept twice in git.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithDefaultModel(build_py):
    """``build_py`` plus copies of the default model folders into the package."""

    def run(self):
        super().run()
        if self.editable_mode:
            return
        bundled = {"default": (ROOT / "models" / "DEFAULT").read_text().strip(), "fold3d": "ssrlm-fold3d"}
        for slot, name in bundled.items():
            target = Path(self.build_lib) / "modeling_ssrlm" / "pretrained" / slot
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / "models" / name, target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithDefaultModel})
