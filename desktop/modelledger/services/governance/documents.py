"""Documents for reviewers: one description, written as Markdown, self-contained HTML or an A4 PDF.

A model card and the governance report are built once as a `Document` (a title, a few facts and
a flow of headings, paragraphs, tables and images) and written out by the functions here, so
the three formats cannot disagree. Headings are numbered here, and the table of contents lists
them with the page each starts on.

The PDF is laid out by hand on matplotlib figures (the layers below the GUI may not use Qt's
text engine): text is wrapped with the fonts' own advance widths, tables repeat their header on
every page they span, and each page carries a dated header and "Page N of M". No pyplot: its
figure registry is not thread-safe and exports run off the GUI thread. matplotlib is imported
only when a PDF is written, so the window starts without it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1  # 1 is a chapter; the contents list levels up to the document's depth
    new_page: bool = False  # in print (PDF, printed HTML), start on a fresh page


@dataclass(frozen=True)
class Paragraph:
    text: str  # line breaks are kept; a blank line separates paragraphs
    tone: str = "normal"  # "normal", "muted" (notes, placeholders) or "alert" (problems)


@dataclass(frozen=True)
class Cell:
    """A table value with emphasis: a health in its colour, a hash in a fixed-width font."""

    text: str
    colour: str | None = None
    bold: bool = False
    mono: bool = False


CellValue = str | Cell


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[CellValue, ...], ...]
    widths: tuple[float, ...] = ()  # relative column widths; equal when empty
    empty: str = "None."  # said instead of an empty table

    def __post_init__(self) -> None:
        if self.widths and len(self.widths) != len(self.columns):
            raise ValueError("a table needs one width per column")
        if any(len(row) != len(self.columns) for row in self.rows):
            raise ValueError("every table row needs one value per column")


@dataclass(frozen=True)
class Facts:
    """Label and value pairs: the facts of a model, a monitor or the document itself."""

    rows: tuple[tuple[str, CellValue], ...]


@dataclass(frozen=True)
class Image:
    png: bytes
    caption: str

    @property
    def pixel_size(self) -> tuple[int, int]:
        """(width, height), read from the PNG header."""
        if self.png[:8] != b"\x89PNG\r\n\x1a\n":
            raise ValueError("an image block holds PNG bytes")
        return struct.unpack(">II", self.png[16:24])


Block = Heading | Paragraph | Table | Facts | Image


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    facts: tuple[tuple[str, CellValue], ...]  # under the title: what, whose, when, by whom
    blocks: tuple[Block, ...]
    running_header: str  # on top of every page, left
    dated: str  # on top of every page, right: when it was generated
    footer: str  # bottom left of every page (the page number is bottom right)
    author: str
    created: datetime
    title_page: bool = False  # the title and the contents on pages of their own
    contents_depth: int = 2  # heading levels listed in the contents


@dataclass(frozen=True)
class _Entry:
    """A heading of the contents: its number ("2.1"), text, level and link target."""

    number: str
    text: str
    level: int
    anchor: str


def _numbered(blocks: Sequence[Block]) -> Iterator[tuple[Block, _Entry | None]]:
    """Each block with its heading number, if it is a heading."""
    counters: list[int] = []
    for block in blocks:
        if not isinstance(block, Heading):
            yield block, None
            continue
        del counters[block.level:]
        counters.extend([0] * (block.level - len(counters)))
        counters[-1] += 1
        number = ".".join(map(str, counters))
        yield block, _Entry(number, block.text, block.level, f"s{number.replace('.', '-')}")


def _contents(document: Document) -> list[_Entry]:
    return [entry for _, entry in _numbered(document.blocks)
            if entry is not None and entry.level <= document.contents_depth]


def utc_text(moment: datetime | None) -> str:
    """A time as documents show it: "2026-11-24 09:30 UTC" ("—" when there is none)."""
    return "—" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _cell(value: CellValue) -> Cell:
    return value if isinstance(value, Cell) else Cell(value)


# -- Markdown -----------------------------------------------------------------------------------


def to_markdown(document: Document) -> str:
    """GitHub-flavoured Markdown. Images are not supported (a model card has none)."""
    lines = [f"# {document.title}", "", f"*{document.subtitle}*", ""]
    lines += _markdown_table(("", ""), [(label, value) for label, value in document.facts])
    lines += ["", "## Contents", ""]
    lines += [f"{'  ' * (entry.level - 1)}- {entry.number} {entry.text}"
              for entry in _contents(document)]
    for block, entry in _numbered(document.blocks):
        lines.append("")
        if entry is not None:
            lines.append(f"{'#' * min(entry.level + 1, 6)} {entry.number} {entry.text}")
        elif isinstance(block, Paragraph):
            lines.append(f"*{block.text}*" if block.tone == "muted" else block.text)
        elif isinstance(block, Facts):
            lines += _markdown_table(("", ""), block.rows)
        elif isinstance(block, Table):
            lines += (_markdown_table(block.columns, block.rows) if block.rows
                      else [f"*{block.empty}*"])
        else:
            raise TypeError(f"{type(block).__name__} has no Markdown form")
    lines += ["", "---", "", f"{document.footer} · {document.dated}", ""]
    return "\n".join(lines)


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[CellValue]]) -> list[str]:
    def text(value: CellValue) -> str:
        cell = _cell(value)
        escaped = cell.text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")
        if cell.mono and escaped:
            return f"`{escaped}`"
        return f"**{escaped}**" if cell.bold and escaped else escaped

    return [f"| {' | '.join(columns)} |", f"|{'---|' * len(columns)}",
            *(f"| {' | '.join(text(value) for value in row)} |" for row in rows)]


# -- HTML ---------------------------------------------------------------------------------------

_HTML_STYLE = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; font-size: 10pt;
       line-height: 1.45; color: #1a1a1a; background: #ffffff; max-width: 190mm;
       margin: 0 auto; padding: 8mm 10mm 14mm; }
header.running, footer.running { display: flex; justify-content: space-between; gap: 4mm;
       color: #666666; font-size: 8pt; }
header.running { border-bottom: 1px solid #c8ced6; padding-bottom: 1.5mm; }
footer.running { border-top: 1px solid #c8ced6; padding-top: 1.5mm; margin-top: 10mm; }
h1.title { font-size: 22pt; margin: 8mm 0 1mm; color: #1f4e79; }
p.subtitle { font-size: 12pt; color: #444444; margin: 0 0 5mm; }
h2, h3, h4, h5, h6 { color: #1f4e79; margin: 6mm 0 2mm; line-height: 1.25; }
h2 { font-size: 15pt; border-bottom: 1.5px solid #1f4e79; padding-bottom: 1mm; }
h3 { font-size: 12.5pt; }
h4 { font-size: 10.5pt; }
h5, h6 { font-size: 9.5pt; }
.number { color: #7a7a7a; margin-right: 2mm; font-weight: normal; }
p { margin: 1.5mm 0 3mm; white-space: pre-line; }
p.muted { color: #666666; font-style: italic; }
p.alert { color: #b00020; font-weight: bold; }
table { border-collapse: collapse; width: 100%; font-size: 8pt; margin: 1.5mm 0 4mm; }
th, td { text-align: left; vertical-align: top; padding: 1.1mm 1.6mm;
         border-bottom: 1px solid #dde2e8; overflow-wrap: anywhere; white-space: pre-line; }
thead th { background: #e8edf3; }
tbody tr:nth-child(even) td { background: #f6f8fa; }
table.facts th { width: 27%; color: #555555; background: none; }
.mono { font-family: "DejaVu Sans Mono", Consolas, Menlo, monospace; font-size: 7.5pt; }
figure { margin: 2mm 0 6mm; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e6e6e6; }
figcaption { font-size: 8pt; color: #666666; margin-top: 1mm; }
nav.contents ol { list-style: none; padding-left: 0; margin: 0 0 4mm; }
nav.contents li { margin: 0.6mm 0; }
nav.contents li.level-1 { font-weight: bold; margin-top: 2mm; }
nav.contents li.level-2 { padding-left: 6mm; }
nav.contents li.level-3 { padding-left: 12mm; }
nav.contents a { color: #1f4e79; text-decoration: none; }
@media print {
  body { max-width: none; padding: 0; }
  header.running, footer.running { display: none; }
  .new-page { break-before: page; }
  thead { display: table-header-group; }
  tr, figure { break-inside: avoid; }
  h2, h3, h4, h5, h6 { break-after: avoid; }
}
"""


def to_html(document: Document) -> str:
    """One self-contained HTML file: inline CSS, images as data URIs, nothing fetched."""
    escape = html.escape
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="author" content="{escape(document.author)}">',
        f'<meta name="generator" content="{escape(document.footer)}">',
        f"<title>{escape(document.title)}</title>",
        f"<style>{_HTML_STYLE}{_print_margins(document)}</style>", "</head>", "<body>",
        f'<header class="running"><span>{escape(document.running_header)}</span>'
        f"<span>{escape(document.dated)}</span></header>",
        f'<h1 class="title">{escape(document.title)}</h1>',
        f'<p class="subtitle">{escape(document.subtitle)}</p>',
        _html_facts(document.facts),
        f'<nav class="contents{" new-page" if document.title_page else ""}">'
        "<h2>Contents</h2><ol>",
    ]
    out += [f'<li class="level-{entry.level}"><a href="#{entry.anchor}">'
            f'<span class="number">{entry.number}</span>{escape(entry.text)}</a></li>'
            for entry in _contents(document)]
    out.append("</ol></nav>")
    for block, entry in _numbered(document.blocks):
        if entry is not None:
            assert isinstance(block, Heading)
            tag = f"h{min(entry.level + 1, 6)}"
            page = ' class="new-page"' if block.new_page else ""
            out.append(f'<{tag} id="{entry.anchor}"{page}><span class="number">{entry.number}'
                       f"</span>{escape(entry.text)}</{tag}>")
        elif isinstance(block, Paragraph):
            tone = f' class="{block.tone}"' if block.tone != "normal" else ""
            out.append(f"<p{tone}>{escape(block.text)}</p>")
        elif isinstance(block, Facts):
            out.append(_html_facts(block.rows))
        elif isinstance(block, Table):
            out.append(_html_table(block))
        else:
            assert isinstance(block, Image)
            width, height = block.pixel_size
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f'<figure><img src="data:image/png;base64,{data}" width="{width}" '
                       f'height="{height}" alt="{escape(block.caption)}">'
                       f"<figcaption>{escape(block.caption)}</figcaption></figure>")
    out += [f'<footer class="running"><span>{escape(document.footer)}</span>'
            f"<span>{escape(document.dated)}</span></footer>", "</body>", "</html>", ""]
    return "\n".join(out)


def _print_margins(document: Document) -> str:
    """Paged-media margin boxes: the running header and "Page N of M" on printed pages."""
    def css_string(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'

    small = ('font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 8pt; '
             "color: #666666;")
    return (f"@page {{ size: A4; margin: 18mm 15mm 18mm; "
            f"@top-left {{ content: {css_string(document.running_header)}; {small} }} "
            f"@top-right {{ content: {css_string(document.dated)}; {small} }} "
            f"@bottom-left {{ content: {css_string(document.footer)}; {small} }} "
            f'@bottom-right {{ content: "Page " counter(page) " of " counter(pages); {small} }} '
            "}\n")


def _html_cell(value: CellValue, tag: str) -> str:
    cell = _cell(value)
    styles = []
    if cell.colour:
        styles.append(f"color: {cell.colour}")
    if cell.bold:
        styles.append("font-weight: bold")
    style = f' style="{"; ".join(styles)}"' if styles else ""
    mono = ' class="mono"' if cell.mono else ""
    return f"<{tag}{mono}{style}>{html.escape(cell.text)}</{tag}>"


def _html_facts(rows: Sequence[tuple[str, CellValue]]) -> str:
    body = "".join(f"<tr>{_html_cell(label, 'th')}{_html_cell(value, 'td')}</tr>"
                   for label, value in rows)
    return f'<table class="facts"><tbody>{body}</tbody></table>'


def _html_table(table: Table) -> str:
    if not table.rows:
        return f'<p class="muted">{html.escape(table.empty)}</p>'
    total = sum(table.widths) if table.widths else 0
    columns = "".join(
        f'<col style="width: {100 * width / total:.1f}%">' for width in table.widths)
    head = "".join(_html_cell(column, "th") for column in table.columns)
    body = "".join("<tr>" + "".join(_html_cell(value, "td") for value in row) + "</tr>"
                   for row in table.rows)
    return (f"<table><colgroup>{columns}</colgroup><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


# -- PDF ----------------------------------------------------------------------------------------

# A4 portrait in points; the body is what lies between the running header and the footer.
PAGE_WIDTH, PAGE_HEIGHT = 595.28, 841.89
MARGIN = 50.0
BODY_TOP, BODY_BOTTOM = 68.0, PAGE_HEIGHT - 60.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
TEXT_COLOUR, MUTED_COLOUR, ALERT_COLOUR = "#1a1a1a", "#666666", "#b00020"
ACCENT_COLOUR, RULE_COLOUR, HEADER_FILL, STRIPE_FILL = "#1f4e79", "#c8ced6", "#e8edf3", "#f6f8fa"
CELL_PADDING = 3.5
MIN_IMAGE_SCALE = 0.7  # an image is shrunk to this share of its size to fit a page's rest
MAX_CELL_LINES = 18  # a longer value is cut with an ellipsis: a row must fit on a page
HEADING_SIZES = {1: 15.0, 2: 12.5, 3: 10.5, 4: 9.5}
# (bold, fixed-width) -> font file
CORE_FONT_FILES = {(False, False): "Helvetica.afm", (True, False): "Helvetica-Bold.afm",
                   (False, True): "Courier.afm", (True, True): "Courier-Bold.afm"}
EMBEDDED_FONT_FILES = {(False, False): "DejaVuSans.ttf", (True, False): "DejaVuSans-Bold.ttf",
                       (False, True): "DejaVuSansMono.ttf", (True, True): "DejaVuSansMono-Bold.ttf"}
# Several exports may run at once on worker threads; the core-font setting is global to
# matplotlib, so PDFs are drawn one at a time.
_DRAWING = threading.Lock()


@dataclass(frozen=True)
class _Style:
    size: float
    bold: bool = False
    mono: bool = False
    colour: str = TEXT_COLOUR

    @property
    def line_height(self) -> float:
        return self.size * 1.32


BODY = _Style(9.0)
SMALL = _Style(7.5)
RUNNING = _Style(7.5, colour=MUTED_COLOUR)


class _Text(NamedTuple):
    x: float
    baseline: float
    text: str
    style: _Style
    align: str = "left"


class _Rect(NamedTuple):
    x: float
    y: float
    width: float
    height: float
    fill: str


class _Rule(NamedTuple):
    x0: float
    x1: float
    y: float
    colour: str
    width: float = 0.6
    dotted: bool = False


class _Picture(NamedTuple):
    x: float
    y: float
    width: float
    height: float
    png: bytes


class _PageNumberOf(NamedTuple):
    """The contents' page number of a heading, known only when the layout is done."""

    x: float
    baseline: float
    heading: int  # index among the document's contents entries
    style: _Style


_Op = _Text | _Rect | _Rule | _Picture | _PageNumberOf


class _Fonts:
    """The PDF's fonts and their advance widths, for wrapping text before anything is drawn.

    A document whose text is all in Windows-1252 (Western European text) is set in the PDF
    core fonts Helvetica and Courier: every viewer has them, so nothing is embedded, and
    matplotlib writes such text about 25 times faster than with an embedded font (a long
    audit timeline takes seconds instead of minutes). A document with any other character is
    set in the embedded DejaVu fonts instead, which cover Greek, Cyrillic and most symbols (not
    Chinese, Japanese or Korean, which would show as empty boxes).

    Core-font text is written without kerning, so the sum of the glyphs' advances is its width;
    with DejaVu, kerning only ever narrows a line, so a wrapped line never comes out wider than
    measured."""

    def __init__(self, core: bool) -> None:
        from pathlib import Path

        import matplotlib
        from matplotlib.font_manager import FontProperties, get_font

        self.core = core
        files = CORE_FONT_FILES if core else EMBEDDED_FONT_FILES
        folder = Path(matplotlib.get_data_path()) / "fonts" / ("pdfcorefonts" if core else "ttf")
        self.properties = {key: FontProperties(fname=folder / name)
                           for key, name in files.items()}
        if core:
            self._core_metrics = _core_font_metrics()
        else:
            self._embedded = {key: get_font(folder / name) for key, name in files.items()}
        self._advances: dict[tuple[bool, bool], dict[str, float]] = {key: {} for key in files}
        self._sized: dict[tuple[bool, bool, float], Any] = {}

    def font(self, style: _Style) -> Any:
        """The matplotlib font properties of a style."""
        key = (style.bold, style.mono, style.size)
        font = self._sized.get(key)
        if font is None:
            font = self._sized[key] = self.properties[key[:2]].copy()
            font.set_size(style.size)
        return font

    def drawing(self) -> AbstractContextManager:
        """The matplotlib settings under which the pages must be drawn."""
        import matplotlib

        if not self.core:
            return contextlib.nullcontext()
        return matplotlib.rc_context({"pdf.use14corefonts": True})

    def width(self, text: str, style: _Style) -> float:
        key = (style.bold, style.mono)
        advances = self._advances[key]
        total = 0.0
        for character in text:
            advance = advances.get(character)
            if advance is None:
                advance = advances[character] = self._advance(character, key)
            total += advance
        return total * style.size

    def _advance(self, character: str, key: tuple[bool, bool]) -> float:
        """The character's advance at a size of 1 point."""
        if self.core:
            return self._core_metrics[key].get_str_bbox_and_descent(character)[2] / 1000
        font = self._embedded[key]
        font.set_size(100, 72)
        return font.load_char(ord(character)).linearHoriAdvance / 65536 / 100

    def wrap(self, text: str, style: _Style, width: float,
             max_lines: int | None = None) -> list[str]:
        """Lines no wider than ``width``: words move to the next line, a word too long for
        a line (a hash, a path) is cut. Line breaks in the text are kept."""
        lines: list[str] = []
        space = self.width(" ", style)
        for paragraph in text.split("\n"):
            line, line_width = "", 0.0
            for word in paragraph.split():
                word_width = self.width(word, style)
                if line and line_width + space + word_width <= width:
                    line, line_width = f"{line} {word}", line_width + space + word_width
                    continue
                if line:
                    lines.append(line)
                while word_width > width:
                    # A word too long for a line breaks after a slash, dash, dot or underscore
                    # if it has one ("model/" and "v3"), else where the line is full (a hash).
                    head = self._fitting(word, style, width)
                    cut = max(head.rfind(mark) for mark in "/-._")
                    head = head[:cut + 1] if cut > 0 else head
                    lines.append(head)
                    word = word[len(head):]
                    word_width = self.width(word, style)
                line, line_width = word, word_width
            lines.append(line)
        if max_lines is not None and len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = self.shortened(lines[-1] + " …", style, width)
        return lines

    def shortened(self, text: str, style: _Style, width: float) -> str:
        """The text, cut with an ellipsis when it is wider than ``width``."""
        if self.width(text, style) <= width:
            return text
        return self._fitting(text, style, width - self.width("…", style)).rstrip() + "…"

    def _fitting(self, text: str, style: _Style, width: float) -> str:
        """The longest start of the text that fits (at least one character)."""
        used = 0.0
        for index, character in enumerate(text):
            used += self.width(character, style)
            if used > width:
                return text[:max(index, 1)]
        return text


@dataclass
class _Layout:
    """Places a document's blocks on pages; draws nothing yet."""

    document: Document
    fonts: _Fonts
    pages: list[list[_Op]] = field(default_factory=lambda: [[]])
    y: float = BODY_TOP
    heading_pages: list[int] = field(default_factory=list)  # per contents entry, 1-based

    def run(self) -> list[list[_Op]]:
        document = self.document
        entries = _contents(document)
        if document.title_page:
            self.y = 190.0
        self._title()
        if document.title_page:
            self.new_page()
        self._contents(entries)
        if document.title_page:
            self.new_page()
        for block, entry in _numbered(document.blocks):
            if entry is not None:
                assert isinstance(block, Heading)
                self._heading(block, entry)
                if entry.level <= document.contents_depth:
                    self.heading_pages.append(len(self.pages))
            elif isinstance(block, Paragraph):
                self._paragraph(block)
            elif isinstance(block, Facts):
                self._facts(block.rows)
            elif isinstance(block, Table):
                self._table(block)
            else:
                assert isinstance(block, Image)
                self._image(block)
        return self.pages

    # -- pages and space

    def new_page(self) -> None:
        self.pages.append([])
        self.y = BODY_TOP

    def at_page_top(self) -> bool:
        return self.y <= BODY_TOP + 0.5

    def make_room(self, height: float) -> None:
        """Move to a new page unless ``height`` still fits on this one."""
        if self.y + height > BODY_BOTTOM and not self.at_page_top():
            self.new_page()

    def put(self, op: _Op) -> None:
        self.pages[-1].append(op)

    def lines(self, lines: Sequence[str], style: _Style, x: float = MARGIN,
              align: str = "left") -> None:
        """Lines of text from the current position, across pages when needed."""
        for line in lines:
            self.make_room(style.line_height)
            self.put(_Text(x, self.y + style.size, line, style, align))
            self.y += style.line_height

    # -- blocks

    def _title(self) -> None:
        document = self.document
        size = 24.0 if document.title_page else 18.0
        title = _Style(size, bold=True, colour=ACCENT_COLOUR)
        self.lines(self.fonts.wrap(document.title, title, CONTENT_WIDTH), title)
        subtitle = _Style(size / 2 + 0.5, colour="#444444")
        self.y += 3
        self.lines(self.fonts.wrap(document.subtitle, subtitle, CONTENT_WIDTH), subtitle)
        self.y += 10
        self._facts(document.facts)

    def _contents(self, entries: Sequence[_Entry]) -> None:
        heading = _Style(HEADING_SIZES[1], bold=True, colour=ACCENT_COLOUR)
        self.make_room(heading.line_height * 3)
        self.put(_Text(MARGIN, self.y + heading.size, "Contents", heading))
        self.y += heading.line_height + 6
        number_width = 34.0
        for index, entry in enumerate(entries):
            style = _Style(8.5, bold=entry.level == 1)
            if entry.level == 1 and index:
                self.y += 3
            self.make_room(style.line_height)
            indent = MARGIN + 14.0 * (entry.level - 1)
            baseline = self.y + style.size
            self.put(_Text(indent, baseline, entry.number, style))
            text_x = indent + number_width - 10.0 * (entry.level == 1)
            text = self.fonts.shortened(entry.text, style, PAGE_WIDTH - MARGIN - 40 - text_x)
            self.put(_Text(text_x, baseline, text, style))
            leader_start = text_x + self.fonts.width(text, style) + 4
            self.put(_Rule(leader_start, PAGE_WIDTH - MARGIN - 22, baseline, MUTED_COLOUR,
                           0.8, dotted=True))
            self.put(_PageNumberOf(PAGE_WIDTH - MARGIN, baseline, index, style))
            self.y += style.line_height + 1

    def _heading(self, block: Heading, entry: _Entry) -> None:
        style = _Style(HEADING_SIZES.get(entry.level, 9.5), bold=True, colour=ACCENT_COLOUR)
        label = f"{entry.number}  {entry.text}"
        lines = self.fonts.wrap(label, style, CONTENT_WIDTH)
        if block.new_page and not self.at_page_top():
            self.new_page()
        elif not self.at_page_top():
            self.y += style.size * 0.9
        # Keep a heading with the start of what follows it.
        self.make_room(len(lines) * style.line_height + 4 * BODY.line_height)
        self.lines(lines, style)
        if entry.level == 1:
            self.put(_Rule(MARGIN, PAGE_WIDTH - MARGIN, self.y + 1, ACCENT_COLOUR, 1.2))
            self.y += 4
        self.y += 4

    def _paragraph(self, block: Paragraph) -> None:
        colour = {"muted": MUTED_COLOUR, "alert": ALERT_COLOUR}.get(block.tone, TEXT_COLOUR)
        style = _Style(BODY.size, bold=block.tone == "alert", colour=colour)
        self.lines(self.fonts.wrap(block.text, style, CONTENT_WIDTH), style)
        self.y += 5

    def _facts(self, rows: Sequence[tuple[str, CellValue]]) -> None:
        labels = tuple((Cell(label, colour="#555555", bold=True), value) for label, value in rows)
        self._grid(("", ""), labels, (0.27, 0.73), header=False)

    def _table(self, table: Table) -> None:
        if not table.rows:
            self._paragraph(Paragraph(table.empty, "muted"))
            return
        widths = table.widths or (1.0,) * len(table.columns)
        self._grid(table.columns, table.rows, widths, header=True)

    def _grid(self, columns: Sequence[str], rows: Sequence[Sequence[CellValue]],
              widths: Sequence[float], *, header: bool) -> None:
        total = sum(widths)
        column_widths = [CONTENT_WIDTH * width / total for width in widths]
        lefts = [MARGIN + sum(column_widths[:index]) for index in range(len(columns))]
        line_height = SMALL.line_height

        def wrapped(row: Sequence[CellValue]) -> list[tuple[Cell, _Style, list[str]]]:
            cells = []
            for value, width in zip(row, column_widths, strict=True):
                cell = _cell(value)
                style = _Style(SMALL.size - 0.3 * cell.mono, cell.bold, cell.mono,
                               cell.colour or TEXT_COLOUR)
                cells.append((cell, style, self.fonts.wrap(cell.text, style,
                                                           width - 2 * CELL_PADDING,
                                                           MAX_CELL_LINES)))
            return cells

        def height(cells) -> float:
            return max(len(lines) for _, _, lines in cells) * line_height + 2 * CELL_PADDING

        def draw(cells, fill: str | None) -> None:
            row_height = height(cells)
            if fill:
                self.put(_Rect(MARGIN, self.y, CONTENT_WIDTH, row_height, fill))
            for left, (_, style, lines) in zip(lefts, cells, strict=True):
                for index, line in enumerate(lines):
                    self.put(_Text(left + CELL_PADDING,
                                   self.y + CELL_PADDING + index * line_height + style.size,
                                   line, style))
            self.y += row_height
            self.put(_Rule(MARGIN, PAGE_WIDTH - MARGIN, self.y, RULE_COLOUR, 0.5))

        head = wrapped([Cell(column, bold=True) for column in columns]) if header else None
        for index, row in enumerate(rows):
            cells = wrapped(row)
            needed = height(cells) + (height(head) if head and index == 0 else 0)
            if self.y + needed > BODY_BOTTOM and not self.at_page_top():
                self.new_page()
            if head and (index == 0 or self.at_page_top()):
                draw(head, HEADER_FILL)
            draw(cells, STRIPE_FILL if index % 2 else None)
        self.y += 8

    def _image(self, block: Image) -> None:
        width_px, height_px = block.pixel_size
        caption = self.fonts.wrap(block.caption, RUNNING, CONTENT_WIDTH)
        caption_height = len(caption) * RUNNING.line_height + 4
        width = CONTENT_WIDTH
        height = width * height_px / width_px
        most = BODY_BOTTOM - BODY_TOP - caption_height
        if height > most:
            width, height = width * most / height, most
        # Shrunk a little, an image fills the rest of a page rather than leaving it empty.
        left = BODY_BOTTOM - self.y - caption_height
        if MIN_IMAGE_SCALE * height <= left < height:
            width, height = width * left / height, left
        self.make_room(height + caption_height)
        self.put(_Picture(MARGIN + (CONTENT_WIDTH - width) / 2, self.y, width, height,
                          block.png))
        self.y += height + 3
        self.lines(caption, RUNNING)
        self.y += 8


def to_pdf(document: Document) -> bytes:
    """An A4 portrait PDF with a dated header, "Page N of M" and the contents' page numbers."""
    from matplotlib import __version__ as matplotlib_version
    from matplotlib.backends.backend_pdf import PdfPages

    layout = _Layout(document, _Fonts(core=all(_in_core_fonts(text)
                                               for text in _texts(document))))
    pages = layout.run()
    buffer = io.BytesIO()
    metadata = {"Title": document.title, "Author": document.author,
                "Subject": document.subtitle, "Creator": document.footer,
                "Producer": f"matplotlib {matplotlib_version}",
                "CreationDate": document.created}
    with _DRAWING, layout.fonts.drawing(), PdfPages(buffer, metadata=metadata) as pdf:
        for number, ops in enumerate(pages, start=1):
            page = [_Text(op.x, op.baseline, str(layout.heading_pages[op.heading]), op.style,
                          "right") if isinstance(op, _PageNumberOf) else op for op in ops]
            if not (document.title_page and number == 1):
                page += _running_header(layout.fonts, document)
            page += _footer(layout.fonts, document, number, len(pages))
            pdf.savefig(_page_figure(page, layout.fonts))
    return buffer.getvalue()


@functools.cache
def _core_font_metrics() -> dict[tuple[bool, bool], Any]:
    """The core fonts' metrics, parsed once. The AFM reader is matplotlib's own (private) one,
    the one its PDF backend uses for these fonts: its widths are the widths in the PDF."""
    from pathlib import Path

    import matplotlib
    from matplotlib._afm import AFM

    folder = Path(matplotlib.get_data_path()) / "fonts" / "pdfcorefonts"
    metrics = {}
    for key, name in CORE_FONT_FILES.items():
        with open(folder / name, "rb") as handle:
            metrics[key] = AFM(handle)
    return metrics


def _in_core_fonts(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _texts(document: Document) -> Iterator[str]:
    """Every text the PDF shows."""
    yield from (document.title, document.subtitle, document.running_header, document.dated,
                document.footer)
    for label, value in document.facts:
        yield label
        yield _cell(value).text
    for block in document.blocks:
        if isinstance(block, Heading | Paragraph):
            yield block.text
        elif isinstance(block, Facts):
            for label, value in block.rows:
                yield label
                yield _cell(value).text
        elif isinstance(block, Table):
            yield from block.columns
            yield block.empty
            yield from (_cell(value).text for row in block.rows for value in row)
        else:
            yield block.caption


def _page_figure(ops: Sequence[_Op], fonts: _Fonts) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.image import pil_to_array
    from PIL import Image as PilImage

    figure = Figure(figsize=(PAGE_WIDTH / 72, PAGE_HEIGHT / 72), dpi=72, facecolor="white")
    FigureCanvasAgg(figure)
    figure.add_artist(_page_artist_type()(ops, fonts))
    for op in ops:
        if isinstance(op, _Picture):
            axes = figure.add_axes((op.x / PAGE_WIDTH, 1 - (op.y + op.height) / PAGE_HEIGHT,
                                    op.width / PAGE_WIDTH, op.height / PAGE_HEIGHT))
            # 8-bit RGB as decoded (matplotlib's imread would turn it into floats, slow to
            # turn back); "none": the PNG's own pixels go into the PDF, not a resampled copy.
            with PilImage.open(io.BytesIO(op.png)) as picture:
                pixels = pil_to_array(picture.convert("RGB"))
            axes.imshow(pixels, interpolation="none", aspect="auto")
            axes.set_axis_off()
    return figure


@functools.cache
def _page_artist_type() -> type:
    """An artist that draws a page's text, fills and rules straight through the renderer.

    A matplotlib Text per line costs three times as much (each lays itself out again, though
    the layout here already knows every position), and a report has thousands of lines."""
    from matplotlib.artist import Artist
    from matplotlib.colors import to_rgb
    from matplotlib.path import Path
    from matplotlib.transforms import IdentityTransform

    class PageArtist(Artist):
        def __init__(self, ops: Sequence[_Op], fonts: _Fonts) -> None:
            super().__init__()
            self._ops = ops
            self._fonts = fonts

        def draw(self, renderer) -> None:
            # Display units are points here (the figure is at 72 dpi), from the bottom left.
            gc = renderer.new_gc()
            identity = IdentityTransform()
            for op in self._ops:
                if isinstance(op, _Rect):
                    gc.set_linewidth(0)
                    left, right = op.x, op.x + op.width
                    top, bottom = PAGE_HEIGHT - op.y, PAGE_HEIGHT - op.y - op.height
                    outline = Path([(left, bottom), (right, bottom), (right, top), (left, top),
                                    (left, bottom)], closed=True)
                    renderer.draw_path(gc, outline, identity, to_rgb(op.fill))
                elif isinstance(op, _Rule):
                    gc.set_linewidth(op.width)
                    gc.set_foreground(op.colour)
                    gc.set_dashes(0, (0.5, 2.5) if op.dotted else None)
                    y = PAGE_HEIGHT - op.y
                    renderer.draw_path(gc, Path([(op.x0, y), (op.x1, y)]), identity)
                elif isinstance(op, _Text):
                    width = self._fonts.width(op.text, op.style) if op.align == "right" else 0
                    gc.set_foreground(op.style.colour)
                    renderer.draw_text(gc, op.x - width, PAGE_HEIGHT - op.baseline, op.text,
                                       self._fonts.font(op.style), 0)
            gc.restore()

    return PageArtist


def _running_header(fonts: _Fonts, document: Document) -> list[_Op]:
    right = fonts.width(document.dated, RUNNING)
    left = fonts.shortened(document.running_header, RUNNING, CONTENT_WIDTH - right - 16)
    return [_Text(MARGIN, 40, left, RUNNING),
            _Text(PAGE_WIDTH - MARGIN, 40, document.dated, RUNNING, "right"),
            _Rule(MARGIN, PAGE_WIDTH - MARGIN, 46, RULE_COLOUR, 0.6)]


def _footer(fonts: _Fonts, document: Document, number: int, total: int) -> list[_Op]:
    page = f"Page {number} of {total}"
    left = fonts.shortened(document.footer, RUNNING,
                           CONTENT_WIDTH - fonts.width(page, RUNNING) - 16)
    baseline = PAGE_HEIGHT - 34
    return [_Rule(MARGIN, PAGE_WIDTH - MARGIN, baseline - 12, RULE_COLOUR, 0.6),
            _Text(MARGIN, baseline, left, RUNNING),
            _Text(PAGE_WIDTH - MARGIN, baseline, page, RUNNING, "right")]
