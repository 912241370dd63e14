"""Review mode: an evidence pack opened read-only, with nothing but the pack.

A reviewer sees the verdict of the offline verification first, then the pack's timeline, its
model cards and report, its health charts and the list of checked files, and can answer with
review notes signed by their own key (a reply pack). No workspace database is opened or needed.
"""

from __future__ import annotations

import getpass
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.domain import AuditEvent
from modelledger.core.identity import DecisionReport
from modelledger.core.pack_decisions import PackDecisions
from modelledger.services.governance.evidence_pack import (
    PackContents,
    ReplySummary,
    available_processors,
    build_reply_pack,
    read_pack,
)
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.tasks import BackgroundWork, Task
from modelledger.ui.governance.audit_page import event_html, local_time, single_line
from modelledger.ui.governance.signature_badges import signature_column, signature_html
from modelledger.ui.widgets.table_models import Column, RecordListModel, record_table

VALID_STYLE = "background: #e3f4e6; color: #1b5e20; border: 1px solid #7cb987;"
INVALID_STYLE = "background: #fdecea; color: #8e0000; border: 1px solid #e08a8a;"



def event_columns(decisions: Callable[[], DecisionReport | None]) -> list[Column]:
    """The pack's timeline, with each decision's signature as the pack's verification judged
    it (``decisions``: its report, None before the pack is read or for a pack without one)."""
    return [
        Column("#", lambda event: str(event.seq), align_right=True),
        Column("When", lambda event: local_time(event.occurred_at)),
        Column("Who", lambda event: event.actor),
        Column("Action", lambda event: event.action),
        Column("Subject", lambda event: f"{event.entity_type} {event.entity_id}"),
        Column("Reason", lambda event: single_line(event.reason), tooltip=lambda e: e.reason),
        signature_column(decisions),
    ]


@dataclass(frozen=True)
class OpenedPack:
    """What the worker read from the pack for the screens."""

    contents: PackContents
    documents: dict[str, str]  # model cards' HTML, by file name
    charts: dict[str, bytes]  # PNG files, by file name


def open_pack(path: Path, report) -> OpenedPack:
    contents = read_pack(path, processes=available_processors(), progress=report)
    documents: dict[str, str] = {}
    charts: dict[str, bytes] = {}
    with zipfile.ZipFile(path) as archive:
        for name in contents.names:
            if name.startswith("model-cards/") and name.endswith(".html"):
                documents[name] = archive.read(name).decode("utf-8", "replace")
            elif name.startswith("charts/") and name.endswith(".png"):
                charts[name] = archive.read(name)
    return OpenedPack(contents, documents, charts)


def _decisions_phrase(decisions: PackDecisions | None) -> str:
    if decisions is None or decisions.report.identity_from_seq is None:
        return " (the pack predates signed identity: its decisions carry no signatures)"
    return (f", and each of its {decisions.segment_signed:,} decisions is signed by its "
            "author's valid key")


class ReviewWindow(QMainWindow):
    """One pack, read-only. ``loaded`` fires once the pack has been verified and read."""

    loaded = Signal(object)  # OpenedPack
    load_failed = Signal(object)  # the exception: the file is no pack, or cannot be read
    reply_saved = Signal(object)  # ReplySummary

    def __init__(self, pack_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pack_path = Path(pack_path)
        self.opened: OpenedPack | None = None
        self.work = BackgroundWork(self)
        self._extracted: tempfile.TemporaryDirectory | None = None
        self.setWindowTitle(f"Review — {self.pack_path.name} — ModelLedger")
        self.resize(1180, 780)
        self._build()
        QShortcut(QKeySequence.StandardKey.Close, self, self.close)
        self._load()

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        self.badge = QLabel(f"Verifying {self.pack_path.name}…")
        self.badge.setWordWrap(True)
        self.badge.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badge.setContentsMargins(10, 8, 10, 8)
        self.summary = QLabel()
        self.summary.setWordWrap(True)

        columns = event_columns(self.decisions)
        self.events = RecordListModel(columns, parent=self)
        self.event_table = record_table(self.events)
        for column in range(len(columns) - 1):  # the signature takes what is left
            self.event_table.horizontalHeader().setSectionResizeMode(
                column, QHeaderView.ResizeMode.ResizeToContents)
        self.event_details = QTextBrowser()
        self.event_details.setOpenLinks(False)
        self.event_table.selectionModel().currentRowChanged.connect(self._on_event_row_changed)
        timeline = QSplitter(Qt.Orientation.Vertical)
        timeline.addWidget(self.event_table)
        timeline.addWidget(self.event_details)
        timeline.setSizes([480, 220])

        self.document_list = QListWidget()
        self.document_list.setMaximumWidth(300)
        self.document_view = QTextBrowser()
        self.document_list.currentTextChanged.connect(self._show_document)
        self.open_html_button = QPushButton("Open report (HTML)")
        self.open_pdf_button = QPushButton("Open report (PDF)")
        self.open_html_button.clicked.connect(lambda: self.open_in_viewer("report.html"))
        self.open_pdf_button.clicked.connect(lambda: self.open_in_viewer("report.pdf"))
        report_row = QHBoxLayout()
        report_row.addWidget(QLabel("The full governance report:"))
        report_row.addWidget(self.open_html_button)
        report_row.addWidget(self.open_pdf_button)
        report_row.addStretch(1)
        documents_split = QSplitter()
        documents_split.addWidget(self.document_list)
        documents_split.addWidget(self.document_view)
        documents_split.setStretchFactor(1, 1)
        documents = QWidget()
        documents_layout = QVBoxLayout(documents)
        documents_layout.addLayout(report_row)
        documents_layout.addWidget(documents_split, 1)

        self.charts_holder = QWidget()
        self.charts_layout = QVBoxLayout(self.charts_holder)
        charts = QScrollArea()
        charts.setWidgetResizable(True)
        charts.setWidget(self.charts_holder)

        self.files_view = QPlainTextEdit()
        self.files_view.setReadOnly(True)
        self.files_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)

        self.reviewer_edit = QLineEdit(getpass.getuser())
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText(
            "Your findings: what you checked, what is missing, what must change. They are "
            "saved as a reply pack signed with your own key, which names this pack.")
        self.save_reply_button = QPushButton("Save signed reply…")
        self.save_reply_button.setShortcut(QKeySequence.StandardKey.Save)
        self.save_reply_button.clicked.connect(self.choose_reply_path)
        self.notes_edit.textChanged.connect(self._update_reply_button)
        reviewer_row = QHBoxLayout()
        reviewer_row.addWidget(QLabel("Reviewer"))
        reviewer_row.addWidget(self.reviewer_edit)
        reviewer_row.addStretch(1)
        reviewer_row.addWidget(self.save_reply_button)
        notes = QWidget()
        notes_layout = QVBoxLayout(notes)
        notes_layout.addLayout(reviewer_row)
        notes_layout.addWidget(self.notes_edit, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(timeline, "Timeline")
        self.tabs.addTab(documents, "Model cards and report")
        self.tabs.addTab(charts, "Health charts")
        self.tabs.addTab(self.files_view, "Verification")
        self.tabs.addTab(notes, "Review notes")
        self.tabs.setEnabled(False)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.badge)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Review mode: read-only, nothing is written back")
        self._update_reply_button()

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> Task:
        path = self.pack_path
        task = self.work.read(f"Verifying {path.name}",
                              lambda control: open_pack(path, control.report),
                              on_success=self._on_loaded, on_failure=self._on_load_failed)
        task.progressed.connect(lambda done, total, text: self.statusBar().showMessage(
            f"Verifying: {text}"))
        return task

    def _on_loaded(self, opened: OpenedPack) -> None:
        self.opened = opened
        verification = opened.contents.verification
        if verification.valid:
            self.badge.setText(
                f"✔ Verified: signed by {verification.signer}, key "
                f"{(verification.signer_fingerprint or '')[:16]}…; every file and "
                f"{verification.event_count:,} chained events check out"
                f"{_decisions_phrase(verification.decisions)}.\n"
                f"Key: {verification.key_status}")
            self.badge.setStyleSheet(VALID_STYLE)
        else:
            problems = verification.problems
            shown = "\n".join(f"• {problem}" for problem in problems[:5])
            more = f"\n… and {len(problems) - 5} more (Verification tab)" \
                if len(problems) > 5 else ""
            self.badge.setText(f"✖ NOT VALID: do not rely on this pack.\n{shown}{more}")
            self.badge.setStyleSheet(INVALID_STYLE)
        selection = verification.selection
        self.summary.setText(
            f"{verification.selected_count:,} events selected"
            + (f" ({selection.describe()})" if selection is not None else "")
            + f" · created {opened.contents.manifest.get('created_at', '?')}"
            + f" · ModelLedger {opened.contents.manifest.get('app_version', '?')}")
        self.events.set_rows(opened.contents.events.newest_first())
        self.files_view.setPlainText(verification.describe())
        self.document_list.clear()
        self.document_list.addItems(sorted(opened.documents))
        if self.document_list.count():
            self.document_list.setCurrentRow(0)
        self._show_charts(opened.charts)
        names = set(opened.contents.names)
        self.open_html_button.setEnabled("report.html" in names)
        self.open_pdf_button.setEnabled("report.pdf" in names)
        if opened.contents.notes is not None:  # a reply pack: its notes are what it holds
            self.notes_edit.setPlainText(opened.contents.notes)
            self.notes_edit.setReadOnly(True)
            self.tabs.setCurrentIndex(self.tabs.count() - 1)
        self.tabs.setEnabled(True)
        self._update_reply_button()
        self.statusBar().showMessage("Review mode: read-only, nothing is written back")
        self.loaded.emit(opened)

    def _on_load_failed(self, error: BaseException) -> None:
        self.badge.setText(f"✖ Cannot open {self.pack_path.name}: {error}")
        self.badge.setStyleSheet(INVALID_STYLE)
        self.statusBar().clearMessage()
        self.load_failed.emit(error)

    def _show_charts(self, charts: dict[str, bytes]) -> None:
        while self.charts_layout.count():
            item = self.charts_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        if not charts:
            self.charts_layout.addWidget(QLabel("This pack holds no health charts."))
        for name, data in sorted(charts.items()):
            title = QLabel(f"<b>{Path(name).parent.name}</b> · {Path(name).stem}")
            picture = QLabel()
            pixmap = QPixmap()
            pixmap.loadFromData(data, "PNG")
            picture.setPixmap(pixmap.scaledToWidth(
                min(pixmap.width(), 1000), Qt.TransformationMode.SmoothTransformation))
            self.charts_layout.addWidget(title)
            self.charts_layout.addWidget(picture)
        self.charts_layout.addStretch(1)

    # -- reading --------------------------------------------------------------------------------

    def decisions(self) -> DecisionReport | None:
        """How the pack's verification judged each decision; None until it is read, and for a
        pack from before signed identity."""
        if self.opened is None or self.opened.contents.verification.decisions is None:
            return None
        return self.opened.contents.verification.decisions.report

    def _on_event_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        event: AuditEvent | None = self.events.row(current) if current.isValid() else None
        self.event_details.setHtml("" if event is None else event_html(
            event, with_links=False, signature=signature_html(event, self.decisions())))

    def _show_document(self, name: str) -> None:
        if self.opened is not None and name in self.opened.documents:
            self.document_view.setHtml(self.opened.documents[name])

    def open_in_viewer(self, name: str) -> Path:
        """Copy one file of the pack to a private temporary folder and open it with the
        system's viewer (the pack itself is never unpacked in place)."""
        if self._extracted is None:
            self._extracted = tempfile.TemporaryDirectory(prefix="modelledger-review-")
        target = Path(self._extracted.name) / name
        with zipfile.ZipFile(self.pack_path) as archive:
            target.write_bytes(archive.read(name))
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))
        return target

    # -- replying -------------------------------------------------------------------------------

    def _update_reply_button(self) -> None:
        is_reply = self.opened is not None and self.opened.contents.notes is not None
        has_notes = bool(self.notes_edit.toPlainText().strip())
        self.save_reply_button.setEnabled(self.opened is not None and not is_reply and has_notes)

    def choose_reply_path(self) -> None:
        suggested = self.pack_path.with_name(f"{self.pack_path.stem}-review.zip")
        path, _ = QFileDialog.getSaveFileName(self, "Save the signed reply", str(suggested),
                                              "Reply packs (*.zip)")
        if path:
            self.save_reply(Path(path))

    def save_reply(self, path: Path) -> Task:
        notes, reviewer, original = (self.notes_edit.toPlainText(),
                                     self.reviewer_edit.text().strip() or getpass.getuser(),
                                     self.pack_path)
        return self.work.write(
            "Signing the review notes",
            lambda control: build_reply_pack(original, notes, reviewer, path),
            on_success=self._on_reply_saved, on_failure=lambda error: show_error(self, error))

    def _on_reply_saved(self, reply: ReplySummary) -> None:
        self.statusBar().showMessage(
            f"Reply saved to {reply.path}, signed with key {reply.signer_fingerprint[:16]}…",
            30_000)
        self.reply_saved.emit(reply)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.work.shutdown()
        if self._extracted is not None:
            self._extracted.cleanup()
        super().closeEvent(event)
