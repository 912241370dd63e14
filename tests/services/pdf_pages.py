"""Reading exported PDFs back as a reviewer's tools see them: poppler's pages, images and text."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} (poppler-utils) not found: run the tests with scripts/test.sh, "
                    "which installs it.")
    return path


def page_count(pdf: Path) -> int:
    info = subprocess.run([_poppler("pdfinfo"), str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    assert "(A4)" in info, info
    return int(re.search(r"^Pages:\s+(\d+)$", info, re.MULTILINE)[1])


def rendered_pages(pdf: Path, folder: Path) -> list[Path]:
    """Every page as a PNG (what `pdftoppm -png -r 60` makes of it), in page order."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([_poppler("pdftoppm"), "-png", "-r", "60", str(pdf), str(folder / "page")],
                   check=True, capture_output=True)
    return sorted(folder.glob("page-*.png"), key=lambda path: int(path.stem.split("-")[-1]))


def page_texts(pdf: Path) -> list[str]:
    """The text of each page, in reading order."""
    text = subprocess.run([_poppler("pdftotext"), "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:page_count(pdf)]
