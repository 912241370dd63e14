"""Build the double-clickable ModelLedger for the platform this runs on.

    python installer/build.py            # from the top of a checkout, with the `installer` extra

1. renders the icons (installer/make_icons.py) into build/icons;
2. freezes the application with PyInstaller (installer/modelledger.spec) into dist/ModelLedger;
3. packs it the platform's way:
   - Linux:   dist/ModelLedger-VERSION-linux-ARCH.tar.gz (the folder, a .desktop entry, the
              icon, install.sh and uninstall.sh; see installer/linux/);
   - Windows: dist/ModelLedger-VERSION-windows-x64-setup.exe with Inno Setup 6
              (installer/windows/modelledger.iss; ISCC.exe must be on PATH or in its usual place);
   - macOS:   dist/ModelLedger-VERSION-macos.dmg with hdiutil (the .app and a link to
              /Applications);
4. prints what it made, its size and how long each step took.

`make bundle` (scripts/build_bundle.sh) installs what this needs and runs it on Linux.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALLER = ROOT / "installer"
DIST = ROOT / "dist"
BUILD = ROOT / "build"
ICONS = BUILD / "icons"
BUNDLE = DIST / "ModelLedger"

sys.path.insert(0, str(ROOT / "desktop"))
from modelledger import __version__  # noqa: E402


def main() -> int:
    timings: list[tuple[str, float]] = []

    def step(name, action, *args):
        started = time.monotonic()
        result = action(*args)
        timings.append((name, time.monotonic() - started))
        return result

    step("icons", render_icons)
    step("PyInstaller", freeze)
    packers = {"linux": pack_linux, "win32": pack_windows, "darwin": pack_macos}
    pack = packers.get(sys.platform)
    if pack is None:
        print(f"No package format for {sys.platform}; the bundle is in {BUNDLE}")
        made = BUNDLE
    else:
        made = step("package", pack)
    print(f"\nBundle folder: {BUNDLE} ({folder_size(BUNDLE) / 1e6:.0f} MB, "
          f"{sum(1 for _ in BUNDLE.rglob('*'))} files)")
    print(f"Package:       {made} ({made.stat().st_size / 1e6:.0f} MB)")
    print("Build time:    " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings)
          + f"; {sum(seconds for _, seconds in timings):.0f} s in all")
    return 0


def render_icons() -> None:
    subprocess.run([sys.executable, str(INSTALLER / "make_icons.py"), str(ICONS)], check=True,
                   env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, stdout=subprocess.DEVNULL)


def freeze() -> None:
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
                    "--log-level", "WARN", "--distpath", str(DIST),
                    "--workpath", str(BUILD / "pyinstaller"),
                    str(INSTALLER / "modelledger.spec")], check=True, cwd=ROOT)


def pack_linux() -> Path:
    """A tarball of one folder: the bundle plus what installs it into the desktop menu."""
    machine = platform.machine().lower()
    name = f"ModelLedger-{__version__}-linux-{machine}"
    tarball = DIST / f"{name}.tar.gz"
    extras = {
        "install.sh": INSTALLER / "linux" / "install.sh",
        "uninstall.sh": INSTALLER / "linux" / "uninstall.sh",
        "share/modelledger.desktop": INSTALLER / "linux" / "modelledger.desktop",
        "share/modelledger.png": ICONS / "modelledger.png",
        "README.txt": INSTALLER / "linux" / "README.txt",
    }
    with tarfile.open(tarball, "w:gz", compresslevel=6) as archive:
        archive.add(BUNDLE, arcname=name)
        for inside, source in extras.items():
            archive.add(source, arcname=f"{name}/{inside}")
    return tarball


def pack_windows() -> Path:
    usual_place = Path(os.environ.get("PROGRAMFILES(X86)", "C:/")) / "Inno Setup 6" / "ISCC.exe"
    iscc = shutil.which("ISCC") or (str(usual_place) if usual_place.is_file() else None)
    if iscc is None:
        raise SystemExit("Inno Setup 6 is needed to make the installer: install it from "
                         "https://jrsoftware.org/isinfo.php, then run this again.")
    subprocess.run([iscc, f"/DAppVersion={__version__}", f"/DSourceDir={BUNDLE}",
                    f"/DIconFile={ICONS / 'modelledger.ico'}", f"/DOutputDir={DIST}",
                    str(INSTALLER / "windows" / "modelledger.iss")], check=True)
    return DIST / f"ModelLedger-{__version__}-windows-x64-setup.exe"


def pack_macos() -> Path:
    """A compressed disk image holding the app and a link to /Applications to drag it to."""
    staging = BUILD / "dmg"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(DIST / "ModelLedger.app", staging / "ModelLedger.app", symlinks=True)
    (staging / "Applications").symlink_to("/Applications")
    image = DIST / f"ModelLedger-{__version__}-macos-{platform.machine()}.dmg"
    subprocess.run(["hdiutil", "create", "-volname", "ModelLedger", "-srcfolder", str(staging),
                    "-ov", "-format", "UDZO", str(image)], check=True)
    return image


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*")
               if path.is_file() and not path.is_symlink())


if __name__ == "__main__":
    sys.exit(main())
