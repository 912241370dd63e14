"""The frozen Linux bundle's size and start-up time, against the same program run from .venv.

    .venv/bin/python benchmarks/bundle_bench.py [--runs 7]      (build first: make bundle)

Start-up is timed from just before the process is started to the first line that
``modelledger self-test`` prints, which it prints once the main window has been created and
shown (QApplication, every page's module imported, the window laid out); the test is then
stopped. Offscreen, fresh config, data and log folders each run, one warm-up run not counted
(the figures are for warm OS file caches). The peer is the same command from the checkout's
virtual environment (`python -m modelledger`), which is how the project ran before it had an
installer. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "ModelLedger"


def time_to_window(command: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="modelledger-bundle-bench-") as scratch:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PYTHON", "MODELLEDGER_", "QT_"))}
        env.update(QT_QPA_PLATFORM="offscreen", HOME=scratch,
                   MODELLEDGER_LOG_DIR=f"{scratch}/logs")
        started = time.monotonic()
        with subprocess.Popen([*command, "self-test", "--keep", f"{scratch}/check"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=env, cwd=scratch) as process:
            assert process.stdout is not None
            first_line = process.stdout.readline()
            elapsed = time.monotonic() - started
            process.kill()
        if "building and opening the demo workspace" not in first_line:
            raise RuntimeError(f"{command[0]} did not start the self-test: {first_line!r}")
        return elapsed


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*")
               if path.is_file() and not path.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not (BUNDLE / "modelledger-cli").is_file():
        raise SystemExit(f"No bundle in {BUNDLE}: build it with `make bundle` first.")
    tarballs = sorted(BUNDLE.parent.glob("ModelLedger-*-linux-*.tar.gz"))
    print(f"Bundle folder {BUNDLE}: {folder_size(BUNDLE) / 1e6:.0f} MB, "
          f"{sum(1 for _ in BUNDLE.rglob('*')):,} files")
    for tarball in tarballs:
        print(f"Tarball {tarball.name}: {tarball.stat().st_size / 1e6:.0f} MB")
    # PyInstaller links a library that several packages need from _internal/ to one copy.
    largest = sorted(((folder_size(part) if part.is_dir() else part.stat().st_size, part.name)
                      for part in (BUNDLE / "_internal").iterdir() if not part.is_symlink()),
                     reverse=True)[:8]
    print("Largest parts: " + ", ".join(f"{name} {size / 1e6:.0f} MB" for size, name in largest))

    contenders = {"frozen bundle": [str(BUNDLE / "modelledger-cli")],
                  "peer: .venv": [str(ROOT / ".venv" / "bin" / "python"), "-m", "modelledger"]}
    medians = {}
    print(f"\nProcess start to main window shown, offscreen ({args.runs} runs after a warm-up):")
    for name, command in contenders.items():
        time_to_window(command)
        times = [time_to_window(command) for _ in range(args.runs)]
        medians[name] = statistics.median(times)
        print(f"  {name:<14} median {medians[name]:.2f} s, min {min(times):.2f} s, "
              f"max {max(times):.2f} s")
    ratio = medians["frozen bundle"] / medians["peer: .venv"]
    print(f"  frozen / venv: {ratio:.2f}")


if __name__ == "__main__":
    main()
