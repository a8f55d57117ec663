"""The ``ssrlm`` console script (``ssrlm_cli.main``): the CLI, with garbage collection kept out of start-up.

Each case runs in a fresh interpreter, since the point is the collector's state around the first
import of ``modeling_ssrlm``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)})


def test_the_command_predicts_and_leaves_the_imports_frozen_and_collection_on():
    done = _run(
        "import gc, sys, ssrlm_cli\n"
        "code = ssrlm_cli.main(['predict', 'GGGGAAACCCC'])\n"
        "print(code, gc.isenabled(), gc.get_freeze_count() > 100_000)\n"
        "print(ssrlm_cli.main(['predict', 'GGGXZ!']))\n"
    )
    lines = done.stdout.splitlines()
    assert lines[:2] == [">seq1", "GGGGAAACCCC"] and len(lines[2]) == 11 and set(lines[2]) <= set("().")
    assert lines[3] == "0 True True"  # torch + transformers: hundreds of thousands of frozen objects
    assert lines[4] == "2" and len(done.stderr.strip().splitlines()) == 1  # bad input: one line, exit 2


def test_a_disabled_collector_stays_disabled():
    done = _run("import gc, ssrlm_cli\ngc.disable()\nssrlm_cli.main(['--help'])\nprint(gc.isenabled())")
    assert done.stdout.splitlines()[-1] == "False"


def test_importing_the_package_as_a_library_leaves_the_collector_alone():
    done = _run("import gc, modeling_ssrlm\nprint(gc.isenabled(), gc.get_freeze_count())")
    assert done.stdout.strip() == "True 0"
