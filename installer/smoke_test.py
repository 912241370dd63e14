"""Smoke test of a frozen build: does the bundle work on its own?

    python3 installer/smoke_test.py [BUNDLE_FOLDER]      (default: dist/ModelLedger)

Runs the bundle's executables with no virtual environment and no PYTHON* variables, offscreen,
with a fresh temporary home, config, data and log folder:

1. ``ModelLedger --version`` and ``modelledger-cli --version``: both executables start;
2. ``modelledger-cli self-test``: the window opens the demo workspace (built on the spot, which
   exercises scikit-learn, pandas, SciPy, the migrations and the artifact store), runs one
   monitor through the scheduler and its spawned worker process, exports a signed evidence pack
   with its HTML and PDF reports (matplotlib) and verifies it in review mode;
3. ``modelledger-cli verify PACK``: the command line verifies the same pack, offline.

Prints each step's time, the start-up time (process start to the window shown, read as the
moment the self-test prints its first line) and the bundle's size; exits 0 when every step
passed. Uses the standard library only, so any python3 can run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELF_TEST_TIMEOUT_S = 600
EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""
# Qt's offscreen platform says this about every window it shows; it is not a problem.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints()"


def clean_environment(scratch: Path) -> dict[str, str]:
    """Only what a user's session would have: no venv, no PYTHON*, no ModelLedger settings."""
    keep = {key: value for key, value in os.environ.items()
            if not key.startswith(("PYTHON", "VIRTUAL_ENV", "MODELLEDGER_", "QT_"))}
    venv_bin = str(ROOT / ".venv" / "bin")
    keep["PATH"] = os.pathsep.join(part for part in keep.get("PATH", "").split(os.pathsep)
                                   if part != venv_bin)
    for name in ("home", "config", "data", "logs"):
        (scratch / name).mkdir()
    keep.update(HOME=str(scratch / "home"), QT_QPA_PLATFORM="offscreen",
                MODELLEDGER_CONFIG_DIR=str(scratch / "config"),
                MODELLEDGER_DATA_DIR=str(scratch / "data"),
                MODELLEDGER_LOG_DIR=str(scratch / "logs"), MODELLEDGER_USER="smoke-test")
    return keep


def run(command: list[str], env: dict[str, str], cwd: Path, timeout: float
        ) -> tuple[int, str, float, float | None]:
    """Exit code, output, seconds in all, and seconds until the first line of output."""
    started = time.monotonic()
    first_line_at: float | None = None
    lines: list[str] = []
    with subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if first_line_at is None:
                first_line_at = time.monotonic() - started
            lines.append(line)
            if line.strip() != OFFSCREEN_NOISE:
                print(f"    | {line.rstrip()}", flush=True)
            if time.monotonic() - started > timeout:
                process.kill()
                lines.append(f"(killed after {timeout:.0f} s)\n")
                break
        code = process.wait()
    return code, "".join(lines), time.monotonic() - started, first_line_at


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*")
               if path.is_file() and not path.is_symlink())


def main(bundle: Path) -> int:
    app = bundle / f"ModelLedger{EXE_SUFFIX}"
    cli = bundle / f"modelledger-cli{EXE_SUFFIX}"
    missing = [str(path) for path in (app, cli) if not path.is_file()]
    if missing:
        print(f"Not built: {', '.join(missing)}. Build it with `make bundle` first.")
        return 1
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="modelledger-smoke-") as folder:
        scratch = Path(folder)
        env = clean_environment(scratch)
        print(f"Smoke test of {bundle} ({folder_size(bundle) / 1e6:.0f} MB)")

        def step(title: str, command: list[str], expect: str, timeout: float = 120):
            print(f"- {title}", flush=True)
            code, output, seconds, first_line = run(command, env, scratch, timeout)
            passed = code == 0 and expect in output
            print(f"  {'passed' if passed else 'FAILED'} in {seconds:.1f} s (exit {code})")
            if not passed:
                failures.append(f"{title}: exit {code}, expected {expect!r} in the output")
            return seconds, first_line

        step("the application's executable starts", [str(app), "--version"], "ModelLedger ")
        version_s, _ = step("the command line starts", [str(cli), "--version"], "ModelLedger ")
        check = scratch / "check"
        _total, window_s = step(
            "self-test through the window",
            [str(cli), "self-test", "--keep", str(check), "--timeout", str(SELF_TEST_TIMEOUT_S)],
            "self-test passed", timeout=SELF_TEST_TIMEOUT_S + 60)
        step("the command line verifies the exported pack",
             [str(cli), "verify", str(check / "self-test-evidence.zip")], "VALID")
        logs = list((scratch / "logs").glob("*.log"))
        if not logs:
            failures.append("no log file was written to MODELLEDGER_LOG_DIR")
    print(f"\nStart-up: `modelledger-cli --version` {version_s:.2f} s; "
          f"process start to the main window shown {window_s or float('nan'):.2f} s")
    if failures:
        print("SMOKE TEST FAILED:\n" + "\n".join(f"  - {failure}" for failure in failures))
        return 1
    print("Smoke test passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist" / "ModelLedger"))
