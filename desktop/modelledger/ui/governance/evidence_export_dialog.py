"""Choosing what goes into an evidence pack: models, a period, reports, and where to save it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.evidence import EventSelection
from modelledger.ui.widgets.dialogs import PROBLEM_STYLE


class ExportEvidenceDialog(QDialog):
    """Asks for the selection; the caller exports it on a worker."""

    def __init__(self, model_names: list[str], suggested_folder: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export evidence pack")
        self.setMinimumWidth(520)
        intro = QLabel(
            "A signed zip for a compliance review: the audit events, the chain segment that "
            "links them and, if chosen, the governance report (HTML and PDF), model cards and "
            "health charts. Anyone can check it offline with <code>modelledger verify</code>.")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)

        self.all_models_box = QCheckBox("All models and workspace events")
        self.all_models_box.setChecked(True)
        self.model_list = QListWidget()
        self.model_list.setMinimumHeight(140)
        for name in model_names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.model_list.addItem(item)
        self.model_list.setEnabled(False)
        self.all_models_box.toggled.connect(lambda every: self.model_list.setEnabled(not every))
        self.model_list.itemChanged.connect(self._update_ok)
        self.all_models_box.toggled.connect(self._update_ok)

        self.whole_history_box = QCheckBox("Whole history")
        self.whole_history_box.setChecked(True)
        today = QDate.currentDate()
        self.from_edit = _date_edit(today.addDays(-90))
        self.to_edit = _date_edit(today)
        period_row = QHBoxLayout()
        period_row.addWidget(self.whole_history_box)
        period_row.addSpacing(12)
        period_row.addWidget(QLabel("from"))
        period_row.addWidget(self.from_edit)
        period_row.addWidget(QLabel("to"))
        period_row.addWidget(self.to_edit)
        period_row.addStretch(1)
        for edit in (self.from_edit, self.to_edit):
            edit.setEnabled(False)
            self.whole_history_box.toggled.connect(lambda whole, e=edit: e.setEnabled(not whole))
            edit.dateChanged.connect(self._update_ok)
        self.whole_history_box.toggled.connect(self._update_ok)

        self.reports_box = QCheckBox("Include the report, model cards and health charts")
        self.reports_box.setChecked(True)

        stamp = date.today().strftime("%Y%m%d")
        self.path_edit = QLineEdit(str(suggested_folder / f"evidence-{stamp}.zip"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.path_edit.textChanged.connect(self._update_ok)

        self.problem_label = QLabel()
        self.problem_label.setStyleSheet(PROBLEM_STYLE)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Models", self.all_models_box)
        form.addRow("", self.model_list)
        form.addRow("Period", period_row)
        form.addRow("Contents", self.reports_box)
        form.addRow("Save as", path_row)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)
        self._update_ok()

    def chosen_models(self) -> tuple[str, ...]:
        if self.all_models_box.isChecked():
            return ()
        return tuple(self.model_list.item(row).text() for row in range(self.model_list.count())
                     if self.model_list.item(row).checkState() == Qt.CheckState.Checked)

    def selection(self) -> EventSelection:
        if self.whole_history_box.isChecked():
            return EventSelection.for_days(self.chosen_models())
        return EventSelection.for_days(self.chosen_models(), self.from_edit.date().toPython(),
                                       self.to_edit.date().toPython())

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def with_reports(self) -> bool:
        return self.reports_box.isChecked()

    def _problem(self) -> str:
        if not self.all_models_box.isChecked() and not self.chosen_models():
            return "Tick at least one model, or choose all models."
        if (not self.whole_history_box.isChecked()
                and self.from_edit.date() > self.to_edit.date()):
            return "The period starts after it ends."
        if not self.path_edit.text().strip():
            return "Choose where to save the pack."
        if self.path().suffix.lower() != ".zip":
            return "An evidence pack is a .zip file: end the file name with .zip."
        return ""

    def _update_ok(self) -> None:
        problem = self._problem()
        self.problem_label.setText(problem)
        self.ok_button.setEnabled(not problem)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the evidence pack",
                                              self.path_edit.text(), "Evidence packs (*.zip)")
        if path:
            self.path_edit.setText(path if path.lower().endswith(".zip") else f"{path}.zip")


def _date_edit(day: QDate) -> QDateEdit:
    edit = QDateEdit(day)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    return edit
