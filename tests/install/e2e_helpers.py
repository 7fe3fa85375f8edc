"""The end-to-end suite's helpers (dig and its parser, free_port, eventually,
FakeCLI, Timeline, COREDNS), loaded from tests/e2e/conftest.py under another
module name, for the install tests and for resolved_ns.py wherever it is
imported from."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "e2e_conftest", Path(__file__).resolve().parents[1] / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)
