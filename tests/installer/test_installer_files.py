"""The installer files agree with each other and with the application, and the Linux install
script really installs (into a temporary home). The frozen build itself is tested by
test_frozen_bundle.py, only when asked."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelledger import __version__

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"


def test_the_executable_names_agree_across_platforms():
    spec = (INSTALLER / "modelledger.spec").read_text()
    assert 'APP_NAME = "ModelLedger"' in spec and 'name="modelledger-cli"' in spec
    inno = (INSTALLER / "windows" / "modelledger.iss").read_text()
    assert '#define AppExe "ModelLedger.exe"' in inno
    # A pack opened from Explorer or a file manager goes to the `gui TARGET` command.
    assert '""{app}\\{#AppExe}"" gui ""%1""' in inno
    desktop = (INSTALLER / "linux" / "modelledger.desktop").read_text()
    assert "Exec=@BUNDLE@/ModelLedger gui %f" in desktop
    install = (INSTALLER / "linux" / "install.sh").read_text()
    assert '"$here/ModelLedger" "$here/modelledger-cli" "$here/_internal"' in install


def test_the_version_comes_from_the_package_everywhere():
    spec = (INSTALLER / "modelledger.spec").read_text()
    assert "from modelledger import __version__" in spec
    assert spec.count("__version__") >= 4  # Windows version info, macOS bundle and Info.plist
    build = (INSTALLER / "build.py").read_text()
    assert '/DAppVersion={__version__}' in build
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_the_gui_command_takes_the_path_a_file_manager_passes(tmp_path):
    from modelledger.cli.main import build_parser

    args = build_parser().parse_args(["gui", str(tmp_path / "evidence.zip")])
    assert args.command == "gui" and args.target.endswith("evidence.zip")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-utils is not installed (scripts/test.sh installs it)")
def test_the_desktop_entry_is_valid(tmp_path):
    entry = tmp_path / "modelledger.desktop"
    entry.write_text((INSTALLER / "linux" / "modelledger.desktop").read_text()
                     .replace("@BUNDLE@", "/opt/ModelLedger"))
    result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True,
                            text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def _fake_unpacked_tarball(folder: Path) -> Path:
    """What installer/build.py packs, with stand-ins for the frozen executables."""
    folder.mkdir()
    for name in ("install.sh", "uninstall.sh"):
        shutil.copy(INSTALLER / "linux" / name, folder / name)
    (folder / "share").mkdir()
    shutil.copy(INSTALLER / "linux" / "modelledger.desktop", folder / "share")
    (folder / "share" / "modelledger.png").write_bytes(b"\x89PNG")
    for executable in ("ModelLedger", "modelledger-cli"):
        (folder / executable).write_text(f"#!/bin/sh\necho {executable} {__version__}\n")
        (folder / executable).chmod(0o755)
    (folder / "_internal").mkdir()
    (folder / "_internal" / "libpython.so").write_bytes(b"new")
    return folder


def test_the_linux_install_script_installs_upgrades_and_uninstalls_for_one_user(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDG_")}
    env.update(HOME=str(home))
    env.pop("PREFIX", None)
    target = home / ".local" / "opt" / "ModelLedger"
    # An earlier version, with a file the new one no longer has, and the user's own data.
    (target / "_internal").mkdir(parents=True)
    (target / "_internal" / "removed-module.so").write_bytes(b"old")
    user_data = home / ".local" / "share" / "ModelLedger" / "demo"
    user_data.mkdir(parents=True)
    (user_data / "modelledger-demo.db").write_bytes(b"workspace")

    unpacked = _fake_unpacked_tarball(tmp_path / "ModelLedger-unpacked")
    result = subprocess.run(["sh", str(unpacked / "install.sh")], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert (target / "_internal" / "libpython.so").read_bytes() == b"new"
    assert not (target / "_internal" / "removed-module.so").exists()
    entry = (home / ".local" / "share" / "applications" / "modelledger.desktop").read_text()
    assert f"Exec={target}/ModelLedger gui %f" in entry
    assert (home / ".local" / "share" / "icons" / "hicolor" / "256x256" / "apps"
            / "modelledger.png").is_file()
    command = home / ".local" / "bin" / "modelledger"
    assert subprocess.run([str(command)], capture_output=True, text=True).stdout.strip() \
        == f"modelledger-cli {__version__}"

    result = subprocess.run(["sh", str(unpacked / "uninstall.sh")], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not target.exists() and not command.exists()
    assert (user_data / "modelledger-demo.db").read_bytes() == b"workspace"


def test_the_window_starts_without_stdout_and_stderr_as_a_windowed_windows_executable_does():
    """PyInstaller's windowed executables on Windows have sys.stdout and sys.stderr None."""
    code = ("import sys; sys.stdout = sys.stderr = None\n"
            "from modelledger.app import _start_qt\n"
            "app = _start_qt()\n"
            "open(sys.argv[1], 'w').write(type(app).__name__)\n")
    marker = Path(os.environ["MODELLEDGER_LOG_DIR"]) / "started.txt"
    result = subprocess.run([sys.executable, "-c", code, str(marker)], capture_output=True,
                            text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "QApplication"
