"""Render resources/icons/modelledger.svg into the icon files each platform's bundle needs.

    python installer/make_icons.py OUT_FOLDER

writes modelledger.png (256 px, Linux .desktop entry), modelledger.ico (Windows executable and
installer) and modelledger.icns (macOS bundle). Qt draws the SVG; Pillow packs the sizes.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

SVG = Path(__file__).resolve().parents[1] / "resources" / "icons" / "modelledger.svg"
ICO_SIZES = [16, 24, 32, 48, 64, 128, 256]
ICNS_SIZES = [16, 32, 64, 128, 256, 512, 1024]


def render_png(size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def make_icons(out: Path) -> list[Path]:
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication.instance() or QGuiApplication([])
    out.mkdir(parents=True, exist_ok=True)
    largest = Image.open(io.BytesIO(render_png(1024)))
    png, ico, icns = out / "modelledger.png", out / "modelledger.ico", out / "modelledger.icns"
    Image.open(io.BytesIO(render_png(256))).save(png)
    # Each size is rendered from the vector, not scaled down from the largest bitmap, so the
    # small sizes stay sharp.
    ico_images = [Image.open(io.BytesIO(render_png(size))) for size in ICO_SIZES]
    ico_images[-1].save(ico, sizes=[(s, s) for s in ICO_SIZES], append_images=ico_images[:-1])
    largest.save(icns, sizes=[(s, s) for s in ICNS_SIZES])
    return [png, ico, icns]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path in make_icons(Path(sys.argv[1])):
        print(path)
