"""Entry point of the ``ssrlm`` command: :func:`modeling_ssrlm.cli.main`, with garbage collection kept out of start-up.

Importing ``modeling_ssrlm`` (torch, transformers) creates ~630,000 long-lived objects. In a
short command-line process the cyclic garbage collector scans them again and again while they are
imported, and once more at exit: about a third of the CPU time of ``ssrlm predict`` on one short
sequence (``benchmarks/bench_cli_startup.py``). So the collector is off while the package is
imported; the imported objects are then frozen (``gc.freeze``: left out of every later collection)
and collection resumes for what the command itself allocates.

This is a module of its own because nothing inside the package can run before the package's own
import; importing ``modeling_ssrlm`` as a library leaves the collector as it is.
"""

from __future__ import annotations

import gc
import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``ssrlm`` with ``argv`` (default: the command line); the exit status."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        from modeling_ssrlm.cli import main as run
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
