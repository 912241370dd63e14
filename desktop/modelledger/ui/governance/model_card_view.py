"""A version's model card: the card as the registry generates it, an editor for the sections only
people can write, and exports to Markdown, HTML and PDF.

Every read, save and export runs on the session's worker threads. Unsaved edits are kept as
drafts per model, version and section, so switching section or version never loses them; a
save is refused when someone else changed the section since the draft was started.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import ModelVersion
from modelledger.core.errors import ConcurrentEditError, ModelLedgerError
from modelledger.services.changes.atomic_files import write_atomically
from modelledger.services.governance.model_cards import FREE_TEXT_SECTIONS, CardText, ModelCard
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.widgets.dialogs import ReasonDialog
from modelledger.ui.widgets.table_models import MUTED

# kind -> (menu text, file suffix, save-dialog filter)
EXPORT_FORMATS = {
    "md": ("Markdown…", "md", "Markdown (*.md)"),
    "html": ("HTML…", "html", "HTML page (*.html)"),
    "pdf": ("PDF…", "pdf", "PDF document (*.pdf)"),
}
READ_ONLY_NOTE = ("This workspace is open read-only: you can read and export the card, but not "
                  "edit its sections.")
_BANNER_STYLE = "background: #fff4e5; color: #663c00; border: 1px solid #ffb74d; padding: 6px;"
_DRAFT_MARK = " — unsaved draft"


@dataclass
class SectionDraft:
    """An edit of one section not saved yet."""

    expected: str  # what the section held for this version when editing started ("" if nothing)
    original: str  # what the editor started from (may be carried over from an earlier version)
    text: str


@dataclass(frozen=True)
class LoadedCard:
    versions: tuple[ModelVersion, ...]
    card: ModelCard
    html: str


# Qt's rich text knows a subset of CSS: the screen shows the exported page with these rules.
SCREEN_STYLE = """
h1 { font-size: 17pt; color: #1f4e79; margin: 2px 0 2px 0; }
p.subtitle { font-size: 11pt; color: #444444; margin: 0 0 8px 0; }
h2 { font-size: 14pt; color: #1f4e79; margin: 18px 0 4px 0; }
h3 { font-size: 12pt; color: #1f4e79; margin: 12px 0 4px 0; }
h4, h5, h6 { font-size: 10.5pt; color: #1f4e79; margin: 10px 0 2px 0; }
.number { color: #7a7a7a; font-weight: normal; }
p { margin: 2px 0 6px 0; white-space: pre-wrap; }
p.muted { color: #666666; font-style: italic; }
p.alert { color: #b00020; font-weight: bold; }
table { border-collapse: collapse; margin: 2px 0 10px 0; }
th, td { padding: 3px 6px; vertical-align: top; text-align: left; white-space: pre-wrap;
         border-bottom: 1px solid #dde2e8; }
th { background-color: #e8edf3; }
table.facts th { color: #555555; background-color: #ffffff; font-weight: normal; }
.mono { font-family: monospace; font-size: 8pt; }
"""
_DROPPED_ON_SCREEN = re.compile(  # the page's own style, the printed header and footer, the
    r'<style>.*?</style>|<header class="running">.*?</header>'  # contents list
    r'|<footer class="running">.*?</footer>|<nav class="contents.*?</nav>|<colgroup>.*?</colgroup>',
    re.DOTALL)


def screen_html(page: str) -> str:
    """The exported HTML page of a card, as Qt's text browser shows it tidily."""
    page = _DROPPED_ON_SCREEN.sub("", page)
    page = re.sub(r'(<span class="number">[^<]*)</span>', r"\1&nbsp;&nbsp;</span>", page)
    return (page.replace("<table>", '<table width="100%" cellspacing="0">')
            .replace('<table class="facts">', '<table class="facts" width="100%" cellspacing="0">'))


def export_file_name(model_name: str, version_number: int, suffix: str) -> str:
    stem = f"{model_name}-v{version_number}-model-card".replace("/", "-").replace(" ", "-")
    return f"{stem}.{suffix}"


class ModelCardView(QWidget):
    card_loaded = Signal()  # a card arrived and is shown
    saved = Signal(str)  # the key of the section saved
    save_refused = Signal(str)  # someone else changed the section meanwhile: the message
    exported = Signal(str)  # the path written

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._cards = session.workspace.cards
        self._registry = session.workspace.registry
        self.model_name: str | None = None
        self.version_number: int | None = None  # the version chosen; None: the default one
        self.card: ModelCard | None = None
        self.drafts: dict[tuple[str, int, str], SectionDraft] = {}
        self._load_generation = 0
        self._saving = False
        self._build()
        session.changed.connect(self._on_session_changed)

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        self.version_combo = QComboBox()
        self.version_combo.setMinimumContentsLength(16)
        self.version_combo.setToolTip("The version whose card is shown")
        self.version_combo.currentIndexChanged.connect(self._on_version_combo_changed)
        self.status_label = QLabel()
        self.status_label.setObjectName("cardStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QToolButton()
        self.export_button.setText("Export…")
        self.export_button.setToolTip("Save the card of this version as Markdown, HTML or PDF")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for kind, (text, _suffix, _filter) in EXPORT_FORMATS.items():
            menu.addAction(text, lambda k=kind: self.export(k))
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(QLabel("Version"))
        top.addWidget(self.version_combo)
        top.addSpacing(12)
        top.addWidget(self.status_label, 1)
        top.addWidget(self.export_button)

        self.browser = QTextBrowser()
        self.browser.setObjectName("cardBrowser")
        self.browser.setOpenExternalLinks(True)
        self.browser.document().setDefaultStyleSheet(SCREEN_STYLE)
        self.browser.setPlaceholderText("Loading the model card…")

        self.section_combo = QComboBox()
        for section in FREE_TEXT_SECTIONS:
            self.section_combo.addItem(section.title, section.key)
        self.section_combo.currentIndexChanged.connect(self._on_section_combo_changed)
        self.read_only_note = QLabel(READ_ONLY_NOTE)
        self.read_only_note.setWordWrap(True)
        self.read_only_note.setStyleSheet(f"color: {MUTED};")
        self.section_note = QLabel()
        self.section_note.setWordWrap(True)
        self.section_note.setStyleSheet(f"color: {MUTED};")
        self.conflict_banner = QLabel()
        self.conflict_banner.setObjectName("cardConflictBanner")
        self.conflict_banner.setWordWrap(True)
        self.conflict_banner.setStyleSheet(_BANNER_STYLE)
        self.conflict_banner.hide()
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("cardSectionEditor")
        self.editor.setTabChangesFocus(True)
        self.editor.textChanged.connect(self._on_editor_text_changed)
        self.drafts_label = QLabel()
        self.drafts_label.setWordWrap(True)
        self.drafts_label.setStyleSheet(f"color: {MUTED};")
        self.discard_button = QPushButton("Discard draft")
        self.discard_button.setToolTip("Put back the section's saved text")
        self.discard_button.clicked.connect(self.discard_draft)
        self.save_button = QPushButton("Save section…")
        self.save_button.setToolTip("Save this section of the card (Ctrl+S in the editor)")
        self.save_button.clicked.connect(self.save_section)
        # Only while the editor has focus: elsewhere on the model page Ctrl+S saves the overview.
        save_shortcut = QShortcut(QKeySequence.StandardKey.Save, self.editor)
        save_shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        save_shortcut.activated.connect(self.save_section)
        buttons = QHBoxLayout()
        buttons.addWidget(self.drafts_label, 1)
        buttons.addWidget(self.discard_button)
        buttons.addWidget(self.save_button)

        section_row = QHBoxLayout()
        section_row.addWidget(QLabel("Section"))
        section_row.addWidget(self.section_combo, 1)
        editor_panel = QWidget()
        editor_layout = QVBoxLayout(editor_panel)
        editor_layout.setContentsMargins(8, 0, 0, 0)
        editor_layout.addWidget(QLabel("<b>Written sections</b>"))
        editor_layout.addWidget(self.read_only_note)
        editor_layout.addLayout(section_row)
        editor_layout.addWidget(self.section_note)
        editor_layout.addWidget(self.conflict_banner)
        editor_layout.addWidget(self.editor, 1)
        editor_layout.addLayout(buttons)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.browser)
        self.splitter.addWidget(editor_panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)
        self.read_only_note.setVisible(self._session.read_only)
        self._show_section()

    # -- loading --------------------------------------------------------------------------------

    def show_model(self, name: str) -> None:
        if name != self.model_name:
            self.model_name = name
            self.version_number = None
            self.card = None
            self.conflict_banner.hide()
            self.status_label.clear()
            with QSignalBlocker(self.version_combo):
                self.version_combo.clear()
            self.browser.clear()
            self._show_section()
        self.reload()

    def reload(self) -> None:
        if self.model_name is None:
            return
        self._load_generation += 1
        generation, name, wanted = self._load_generation, self.model_name, self.version_number
        cards, registry = self._cards, self._registry

        def load(control) -> LoadedCard:
            from modelledger.services.governance.model_cards import to_html

            versions = tuple(registry.list_versions(name))
            numbers = {version.version_number for version in versions}
            number = wanted if wanted in numbers else cards.current_version_number(name)
            card = cards.card(name, number)
            return LoadedCard(versions, card, screen_html(to_html(card)))

        self._session.work.read(
            f"Loading the model card of {name}", load,
            on_success=lambda loaded: self._on_card_read(generation, loaded),
            on_failure=lambda error: self._on_card_read_failed(generation, error), context=self)

    def _on_session_changed(self) -> None:
        if self.isVisible():
            self.reload()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # Changes made while the tab was hidden were not loaded.
        if self.card is not None:
            self.reload()

    def _on_card_read(self, generation: int, loaded: LoadedCard) -> None:
        if generation != self._load_generation:
            return  # a newer load is on its way
        card = loaded.card
        self.card = card
        self.version_number = card.version.version_number
        with QSignalBlocker(self.version_combo):
            self.version_combo.clear()
            for version in loaded.versions:
                self.version_combo.addItem(f"v{version.version_number} · {version.stage.value}",
                                           version.version_number)
            self.version_combo.setCurrentIndex(
                self.version_combo.findData(card.version.version_number))
        scroll = self.browser.verticalScrollBar().value()
        self.browser.setHtml(loaded.html)
        self.browser.verticalScrollBar().setValue(scroll)
        self.export_button.setEnabled(True)
        self._show_section()
        self.card_loaded.emit()

    def _on_card_read_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._load_generation:
            return
        if not isinstance(error, ModelLedgerError):
            show_error(self, error)
            return
        # A model without versions, or one deleted meanwhile: said where the card would be.
        self.card = None
        self.export_button.setEnabled(False)
        self.browser.setHtml(f"<p>{html.escape(str(error))}</p>")
        self._show_section()
        self.card_loaded.emit()

    def _on_version_combo_changed(self, index: int) -> None:
        if index < 0:
            return
        self.version_number = self.version_combo.itemData(index)
        self.conflict_banner.hide()
        self.reload()

    # -- the section editor ---------------------------------------------------------------------

    def current_section(self) -> str:
        return self.section_combo.currentData()

    def _draft_key(self, section: str | None = None) -> tuple[str, int, str] | None:
        if self.card is None:
            return None
        return (self.card.model.name, self.card.version.version_number,
                section or self.current_section())

    def _stored(self, section: str) -> CardText | None:
        return self.card.text(section) if self.card is not None else None

    def _start_of_editing(self, section: str) -> SectionDraft:
        """What editing this section starts from, when it has no draft."""
        stored = self._stored(section)
        if stored is None:
            return SectionDraft("", "", "")
        written_here = not stored.carried_over and stored.written_for is not None
        return SectionDraft(stored.text if written_here else "", stored.text, stored.text)

    def _editing(self) -> SectionDraft:
        key = self._draft_key()
        if key is None:
            return SectionDraft("", "", "")
        return self.drafts.get(key) or self._start_of_editing(key[2])

    def _show_section(self) -> None:
        """Fill the editor with the current section: its draft, else its text on the card."""
        section = next(s for s in FREE_TEXT_SECTIONS if s.key == self.current_section())
        editing = self._editing()
        self.editor.setPlaceholderText(section.prompt)
        if self.editor.toPlainText() != editing.text:
            with QSignalBlocker(self.editor):
                self.editor.setPlainText(editing.text)
        self._check_for_changes_elsewhere()
        self._update_section_state()

    def _check_for_changes_elsewhere(self) -> None:
        key = self._draft_key()
        draft = self.drafts.get(key) if key is not None else None
        if draft is None or self.conflict_banner.isVisible():
            return
        stored = self._stored(key[2])
        now = self._start_of_editing(key[2]).expected
        if now != draft.expected:
            self.conflict_banner.setText(
                f"{stored.updated_by} changed {stored.section.title} of {key[0]} v{key[1]} "
                "while you were editing it: saving your draft will be refused. The card on the "
                "left shows their text; copy what you need from yours, press “Discard draft” "
                "and edit again.")
            self.conflict_banner.show()

    def _update_section_state(self) -> None:
        stored = self._stored(self.current_section())
        if self.card is None or stored is None:
            self.section_note.setText("")
        elif stored.carried_over:
            self.section_note.setText(
                f"Carried over from v{stored.written_for} (by {stored.updated_by}); saving it "
                f"confirms it for v{self.card.version.version_number}.")
        elif stored.written_for is not None:
            when = stored.updated_at.astimezone()
            self.section_note.setText(f"Written by {stored.updated_by} on {when:%Y-%m-%d %H:%M}.")
        else:
            self.section_note.setText("Not written yet.")
        key = self._draft_key()
        has_draft = key is not None and key in self.drafts
        editable = self.card is not None and not self._session.read_only
        self.editor.setReadOnly(not editable)
        self.editor.setEnabled(self.card is not None)
        self.save_button.setEnabled(editable and not self._saving and (
            has_draft or (stored is not None and stored.carried_over)))
        self.discard_button.setEnabled(has_draft and not self._saving)
        if self._session.read_only:
            self.save_button.setToolTip(READ_ONLY_NOTE)
        for index, section in enumerate(FREE_TEXT_SECTIONS):
            marked = self._draft_key(section.key) in self.drafts
            self.section_combo.setItemText(index,
                                           section.title + (_DRAFT_MARK if marked else ""))
        others = [f"{_title(section)} (v{version})" for (model, version, section) in self.drafts
                  if model == self.model_name and (model, version, section) != key]
        self.drafts_label.setText(f"Also unsaved: {', '.join(others)}" if others else "")

    def _on_section_combo_changed(self, index: int) -> None:
        self.conflict_banner.hide()
        self._show_section()

    def _on_editor_text_changed(self) -> None:
        key = self._draft_key()
        if key is None:
            return
        text = self.editor.toPlainText()
        draft = self.drafts.get(key) or self._start_of_editing(key[2])
        if text == draft.original:
            self.drafts.pop(key, None)
        else:
            draft.text = text
            self.drafts[key] = draft
        self._update_section_state()

    def discard_draft(self) -> None:
        key = self._draft_key()
        if key is not None:
            self.drafts.pop(key, None)
        self.conflict_banner.hide()
        self._show_section()

    def save_section(self) -> ReasonDialog | None:
        """Ask why, then store the section's text for this version."""
        if not self.save_button.isEnabled() or self.card is None:
            return None
        key = self._draft_key()
        editing = self._editing()
        text = self.editor.toPlainText()
        title = self.card.text(key[2]).section.title
        dialog = ReasonDialog(
            f"Save {title}", f"Why change “{title}” on the card of {key[0]} v{key[1]}? The "
            "reason is kept in the audit log with the text before and after.", self,
            action_text="Save")
        dialog.accepted.connect(lambda: self._write_section(key, text, editing.expected,
                                                            dialog.reason()))
        dialog.open()
        return dialog

    def _write_section(self, key: tuple[str, int, str], text: str, expected: str,
                       reason: str) -> None:
        name, number, section = key
        cards = self._cards
        self._saving = True
        self._update_section_state()
        self._session.work.write(
            f"Saving the model card of {name} v{number}",
            lambda control: cards.save_section(name, number, section, text, reason,
                                               expected_text=expected),
            on_success=lambda stored: self._on_section_saved(key, text, stored),
            on_failure=lambda error: self._on_section_save_failed(key, error), context=self)

    def _on_section_saved(self, key: tuple[str, int, str], text: str, stored: CardText) -> None:
        self._saving = False
        draft = self.drafts.get(key)
        if draft is not None and draft.text == text:
            del self.drafts[key]
        elif draft is not None:  # typed on while saving: the rest is a draft over the new text
            draft.expected = draft.original = stored.text
        if key == self._draft_key():
            self.conflict_banner.hide()
        self._say(f"Saved “{stored.section.title}” of {key[0]} v{key[1]}.")
        self._update_section_state()
        self.saved.emit(key[2])
        self.reload()

    def _on_section_save_failed(self, key: tuple[str, int, str], error: BaseException) -> None:
        self._saving = False
        self._update_section_state()
        if isinstance(error, ConcurrentEditError):
            message = (f"Not saved: {error} Your text is still in the editor: copy what you need "
                       "before pressing “Discard draft”.")
            self.conflict_banner.setText(message)
            self.conflict_banner.show()
            self.save_refused.emit(message)
            self.reload()
            return
        show_error(self, error)

    # -- export ---------------------------------------------------------------------------------

    def export(self, kind: str, path: str | None = None) -> None:
        """Save the card of the version shown, as saved (drafts are not in it)."""
        if self.card is None:
            return
        name, number = self.card.model.name, self.card.version.version_number
        _text, suffix, file_filter = EXPORT_FORMATS[kind]
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, f"Export the model card of {name} v{number}",
                str(Path.home() / export_file_name(name, number, suffix)), file_filter)
            if not chosen:
                return
            path = chosen if Path(chosen).suffix else f"{chosen}.{suffix}"
        target = Path(path)
        cards = self._cards
        unsaved = [_title(section) for (model, version, section) in self.drafts
                   if (model, version) == (name, number)]

        def write(control) -> Path:
            from modelledger.services.governance import model_cards

            card = cards.card(name, number)
            if kind == "pdf":
                content = model_cards.to_pdf(card)
            elif kind == "html":
                content = model_cards.to_html(card).encode("utf-8")
            else:
                content = model_cards.to_markdown(card).encode("utf-8")
            write_atomically(target, lambda handle: handle.write(content))
            return target

        self._session.work.read(f"Exporting the model card to {target.name}", write,
                                on_success=lambda written: self._on_exported(written, unsaved),
                                on_failure=lambda error: show_error(self, error), context=self)

    def _on_exported(self, path: Path, unsaved: list[str]) -> None:
        note = (f" Your unsaved draft of {', '.join(unsaved)} is not in it." if unsaved else "")
        self._say(f"Saved the model card to {path}.{note}")
        self.exported.emit(str(path))

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        window = self.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(text, 15_000)


def _title(section: str) -> str:
    return next(s.title for s in FREE_TEXT_SECTIONS if s.key == section)
