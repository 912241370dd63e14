"""The architecture's import rules: the contracts in pyproject.toml ([tool.importlinter]),
which scripts/test.sh checks with `lint-imports`, catch what they are there to catch; and the
window starts without the data stack."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE = REPOSITORY / "desktop" / "modelledger"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(source_root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the project's contracts, over the package found in ``source_root``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(REPOSITORY / "pyproject.toml")],
        cwd=source_root, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(source_root)})


def test_the_contracts_hold_for_the_package_as_it_is(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "modelledger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (module that gains an import, the import, the contract that must then be broken)
BREAKS = [
    ("core/drift.py", "import PySide6.QtCore", "Qt only in ui and app"),
    ("core/drift.py", "import modelledger.storage.tables", "core is pure"),
    ("storage/tables.py", "import modelledger.services.changes.events",
     "Layers: cli -> app -> ui -> services -> storage -> core"),
    ("services/monitoring/service.py", "import modelledger.services.governance.audit",
     "Service features"),
    ("services/health/chart_data.py", "import modelledger.services.monitoring.scheduler",
     "Service features"),
    ("services/training/service.py", "import modelledger.services.monitoring.service",
     "Service features"),
    ("ui/monitoring/alerts_page.py", "import modelledger.ui.health.sparkline", "UI features"),
    ("services/demo/timeline.py", "import modelledger.services.demo.build",
     "No import cycles"),
]


@pytest.mark.parametrize(("module", "statement", "contract"), BREAKS,
                         ids=[f"{module}: {statement}" for module, statement, _ in BREAKS])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, statement, contract):
    shutil.copytree(PACKAGE, tmp_path / "modelledger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    broken = tmp_path / "modelledger" / module
    broken.write_text(broken.read_text() + f"\n{statement}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken_lines = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken_lines), result.stdout


def test_the_window_starts_without_the_data_stack():
    """Start-up time: pandas, numpy, scipy, scikit-learn and matplotlib are imported only when a
    monitoring run, a model file or a chart needs them (benchmarks/startup_bench.py)."""
    probe = ("import sys, modelledger.app, modelledger.ui.shell.main_window; "
             "print(' '.join(m for m in ('pandas', 'numpy', 'scipy', 'sklearn', 'matplotlib') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""
