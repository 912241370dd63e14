"""Builds the Linux bundle from this checkout and runs its smoke test (installer/smoke_test.py).

It takes several minutes, so it runs only when asked:

    MODELLEDGER_FROZEN_SMOKE=1 bash scripts/test.sh tests/installer
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("MODELLEDGER_FROZEN_SMOKE") != "1",
                       reason="set MODELLEDGER_FROZEN_SMOKE=1 to build and smoke-test the "
                              "frozen bundle (minutes)"),
]


def test_the_frozen_bundle_builds_and_passes_its_smoke_test():
    build = subprocess.run(["bash", str(ROOT / "scripts" / "build_bundle.sh")], cwd=ROOT,
                           capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "Package:" in build.stdout and ".tar.gz" in build.stdout
    smoke = subprocess.run([sys.executable, str(ROOT / "installer" / "smoke_test.py")],
                           cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert smoke.returncode == 0, smoke.stdout[-5000:] + smoke.stderr[-3000:]
    assert "Smoke test passed." in smoke.stdout
