"""The repository's own benchmark scripts (``bench/*.py``), reused by ``sekisho bench``.

They are scripts, not a package: each is loaded from its file, under its own name (so that
worker processes it forks find its functions). An installed copy of Sekisho without the
repository has none of them; the figures that need one are then reported as not available.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


class ScriptMissing(Exception):
    """The benchmark script is not there (an installed copy without the repository)."""


def load(name: str) -> ModuleType:
    """The module of ``bench/<name>.py`` (loaded once)."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    path = BENCH_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if not path.exists() or spec is None or spec.loader is None:
        raise ScriptMissing(f"{path} is not there (run from the repository)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
