"""core, storage and services must not import Qt (they run headless, in the CLI and workers)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "desktop" / "modelledger"
QT_FREE = ("core", "storage", "services")
FORBIDDEN = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "modelledger.ui", "modelledger.app")


def imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("layer", QT_FREE)
def test_layer_is_qt_free(layer):
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in (PACKAGE / layer).rglob("*.py")
        for module in imported_modules(path)
        if module.startswith(FORBIDDEN)
    ]
    assert offenders == []


def test_core_has_no_database_either():
    offenders = [
        f"{path.name} imports {module}"
        for path in (PACKAGE / "core").rglob("*.py")
        for module in imported_modules(path)
        if module.startswith(("sqlalchemy", "modelledger.storage", "modelledger.services"))
    ]
    assert offenders == []


def test_the_window_starts_without_the_data_stack():
    """Start-up time: pandas, numpy, scipy, scikit-learn and matplotlib are imported only when a
    monitoring run, a model file or a chart needs them (benchmarks/startup_bench.py)."""
    import subprocess
    import sys

    probe = ("import sys, modelledger.app, modelledger.ui.main_window; "
             "print(' '.join(m for m in ('pandas', 'numpy', 'scipy', 'sklearn', 'matplotlib') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""
