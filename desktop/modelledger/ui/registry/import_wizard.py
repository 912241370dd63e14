"""The import wizard: register a model and/or add a version to it from a model file.

Pages: which model -> model file -> trust (only for formats that run code when loaded) ->
details -> import. Everything that touches the database or a file runs on the session's worker
threads; the import itself is one write job (``run_import``) that reports the copy's progress and
stops when the user cancels, leaving nothing half-written.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from modelledger.core.domain import (
    ArtifactFormat,
    ModelStatus,
    ModelSummary,
    ModelVersion,
    RegisteredModel,
    RiskTier,
)
from modelledger.core.errors import InvalidInputError, ModelLedgerError
from modelledger.services.data.sources import READERS as TRAINING_DATA_READERS
from modelledger.services.registry import model_files
from modelledger.services.registry.service import MODEL_NAME_PATTERN, RegistryService
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.base.tasks import Task, TaskControl

log = logging.getLogger(__name__)

PAGE_MODEL, PAGE_FILE, PAGE_TRUST, PAGE_DETAILS, PAGE_IMPORT = range(5)

MODEL_FILE_FILTER = ("Model files (*.skops *.pkl *.pickle *.joblib *.onnx);;"
                     "All files (*)")
TRAINING_DATA_FILTER = "Training data (*.csv *.parquet *.xlsx);;All files (*)"
COPYING_TEXT = "Copying the model file"

FORMAT_TEXT = {
    ArtifactFormat.SKOPS: "skops: safe, ModelLedger reads it without running any code",
    ArtifactFormat.PICKLE: "pickle: loading it runs code from the file (the next page asks "
                           "whether you trust it)",
    ArtifactFormat.JOBLIB: "joblib: loading it runs code from the file (the next page asks "
                           "whether you trust it)",
    ArtifactFormat.ONNX: "ONNX: stored and versioned; ModelLedger does not read its parameters",
    ArtifactFormat.OTHER: "not a format ModelLedger knows: stored and versioned as it is, "
                          "never opened",
}


# -- the import job (no widgets: runs on the write worker) ------------------------------------


@dataclass(frozen=True)
class NewModel:
    name: str
    owner: str
    risk_tier: RiskTier
    description: str
    purpose: str
    intended_use: str


@dataclass(frozen=True)
class ImportPlan:
    """Everything the wizard collected; ``new_model`` is set when the model is registered too."""

    model_name: str
    new_model: NewModel | None
    model_file: Path | None
    trust_reason: str | None
    training_data: Path | None
    metrics: dict[str, float]
    parent_version: int | None
    notes: str


@dataclass
class ImportOutcome:
    """What the job already committed, for the message when a later step fails or is cancelled."""

    registered_model: RegisteredModel | None = None


def run_import(registry: RegistryService, plan: ImportPlan, control: TaskControl,
               outcome: ImportOutcome) -> ModelVersion:
    """Register the model if it is new, then add the version; returns the new version.

    Registering commits on its own, and the version's model file is copied before anything else
    is read, so the cheap checks that could make the version fail run first. What can still fail
    later (a full disk, a damaged model inside a valid file, a cancel) is reported through
    ``outcome``.
    """
    if plan.model_file is not None:
        model_files.detect_format(plan.model_file)  # it may have changed since it was picked
    if plan.training_data is not None and not plan.training_data.is_file():
        raise InvalidInputError(f"The training data file {plan.training_data} does not exist.")
    new_model = plan.new_model
    if new_model is not None:
        control.report(0, 0, f"Registering {new_model.name}")
        outcome.registered_model = registry.register_model(
            new_model.name, owner=new_model.owner or None, risk_tier=new_model.risk_tier,
            description=new_model.description, purpose=new_model.purpose,
            intended_use=new_model.intended_use)
    control.report(0, 0, COPYING_TEXT if plan.model_file is not None else "Recording the version")
    return registry.add_version(
        plan.model_name, model_file=plan.model_file, trust_reason=plan.trust_reason,
        training_data=plan.training_data, metrics=plan.metrics,
        parent_version=plan.parent_version, notes=plan.notes,
        progress=lambda done, total: control.report(done, total, COPYING_TEXT))


@dataclass(frozen=True)
class FileCheck:
    path: Path
    file_format: ArtifactFormat | None
    size_bytes: int | None
    problem: str | None


def check_model_file(path: Path) -> FileCheck:
    """What the file is (from its first bytes) and how big: a file job for the read lane."""
    try:
        file_format = model_files.detect_format(path)
        return FileCheck(path, file_format, path.stat().st_size, None)
    except ModelLedgerError as error:
        return FileCheck(path, None, None, str(error))
    except OSError as error:
        return FileCheck(path, None, None, f"Cannot read {path}: {error.strerror}.")


def parse_metrics(text: str) -> dict[str, float]:
    """``name=value`` lines to a dict; the error names the line that is wrong."""
    metrics: dict[str, float] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        name, separator, value = (part.strip() for part in line.partition("="))
        if not separator or not name or not value:
            raise InvalidInputError(
                f"Metrics line {number} ('{line}'): write each metric as name=value, "
                "for example auc=0.81.")
        try:
            metric = float(value)
        except ValueError:
            hint = " Use a dot for decimals." if "," in value else ""
            raise InvalidInputError(
                f"Metrics line {number}: the value of '{name}' must be a number, "
                f"not '{value}'.{hint}") from None
        if not math.isfinite(metric):
            raise InvalidInputError(
                f"Metrics line {number}: the value of '{name}' must be a finite number.")
        if name in metrics:
            raise InvalidInputError(
                f"Metrics line {number}: '{name}' is already given on an earlier line.")
        metrics[name] = metric
    return metrics


def describe_size(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} bytes"
    size = size_bytes / 1024
    for unit in ("KB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


# -- shared widgets ---------------------------------------------------------------------------


class MessageLabel(QLabel):
    """A red message under a page's inputs; hidden while there is nothing to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorLabel")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names and user input
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setStyleSheet("color: #b3261e;")
        self.hide()

    def show_message(self, text: str) -> None:
        self.setText(text)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.show_message("")


def _report_failure(page: QWizardPage, label: MessageLabel, error: BaseException,
                    what: str) -> None:
    """A known error goes in the page's label; a bug also gets the crash dialog."""
    if isinstance(error, ModelLedgerError):
        label.show_message(str(error))
        return
    label.show_message(f"{what} failed because of a bug in ModelLedger; the crash report has "
                       "the details.")
    show_error(page, error)


def _multiline_edit(placeholder: str, lines: int) -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setPlaceholderText(placeholder)
    edit.setTabChangesFocus(True)  # Tab moves on, as in the line edits around it
    line_height = edit.fontMetrics().lineSpacing()
    edit.setFixedHeight(line_height * lines + 2 * edit.frameWidth() + 10)
    return edit


# -- pages ------------------------------------------------------------------------------------


class ModelPage(QWizardPage):
    """An existing model from the inventory, or the facts of a new one."""

    def __init__(self, session: WorkspaceSession, *, model_name: str | None,
                 register_new: bool) -> None:
        super().__init__()
        self.setObjectName("modelPage")
        self.setTitle("Which model?")
        self.setSubTitle("Add a version to a model in the inventory, or register a new model "
                         "together with its first version.")
        self._session = session
        self._wanted_model = model_name
        self._summaries: dict[str, ModelSummary] = {}
        self._taken_names: set[str] = set()
        self.models_loaded = False

        self.existing_radio = QRadioButton("&Existing model")
        self.new_radio = QRadioButton("&Register a new model")
        choice = QButtonGroup(self)
        choice.addButton(self.existing_radio)
        choice.addButton(self.new_radio)
        (self.new_radio if register_new else self.existing_radio).setChecked(True)
        choice_row = QHBoxLayout()
        choice_row.addWidget(self.existing_radio)
        choice_row.addWidget(self.new_radio)
        choice_row.addStretch(1)

        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelCombo")
        self.model_combo.setMinimumContentsLength(30)
        self.model_combo.addItem("Loading the models…")
        self.model_combo.setEnabled(False)
        self.model_facts_label = QLabel()
        self.model_facts_label.setWordWrap(True)
        self.model_facts_label.setTextFormat(Qt.TextFormat.PlainText)
        existing_form = QFormLayout()
        existing_form.addRow("&Model:", self.model_combo)
        existing_form.addRow("", self.model_facts_label)
        existing_form.setContentsMargins(0, 0, 0, 0)
        existing_panel = QWidget()
        existing_panel.setLayout(existing_form)

        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setPlaceholderText("e.g. credit-risk")
        self.owner_edit = QLineEdit(session.user)
        self.owner_edit.setPlaceholderText(f"who answers for the model (default {session.user})")
        self.risk_combo = QComboBox()
        for tier in RiskTier:
            self.risk_combo.addItem(tier.value.capitalize(), tier)
        self.risk_combo.setCurrentIndex(self.risk_combo.findData(RiskTier.MEDIUM))
        self.description_edit = _multiline_edit("What the model does", 2)
        self.purpose_edit = QLineEdit()
        self.purpose_edit.setPlaceholderText("The business decision it supports")
        self.intended_use_edit = _multiline_edit(
            "Where it may be used, and where it must not", 2)
        new_form = QFormLayout()
        new_form.setContentsMargins(0, 0, 0, 0)
        new_form.addRow("N&ame:", self.name_edit)
        new_form.addRow("&Owner:", self.owner_edit)
        new_form.addRow("Risk &tier:", self.risk_combo)
        new_form.addRow("&Description:", self.description_edit)
        new_form.addRow("&Purpose:", self.purpose_edit)
        new_form.addRow("&Intended use:", self.intended_use_edit)
        new_panel = QWidget()
        new_panel.setLayout(new_form)

        self.panels = QStackedWidget()
        self.panels.addWidget(existing_panel)
        self.panels.addWidget(new_panel)
        self.error_label = MessageLabel()

        layout = QVBoxLayout(self)
        layout.addLayout(choice_row)
        layout.addWidget(self.panels)
        layout.addStretch(1)
        layout.addWidget(self.error_label)

        self.existing_radio.toggled.connect(self._on_choice_toggled)
        self.model_combo.currentIndexChanged.connect(self._on_model_combo_changed)
        self.name_edit.textChanged.connect(self._on_name_edit_changed)
        self._on_choice_toggled()
        registry = session.workspace.registry
        session.work.read("Loading the models", lambda control: registry.list_models(),
                          on_success=self._on_models_loaded, on_failure=self._on_models_failed)

    def is_new(self) -> bool:
        return self.new_radio.isChecked()

    def model_name(self) -> str:
        if self.is_new():
            return self.name_edit.text().strip()
        return self.model_combo.currentData() or ""

    def new_model(self) -> NewModel | None:
        if not self.is_new():
            return None
        return NewModel(
            name=self.model_name(), owner=self.owner_edit.text().strip(),
            risk_tier=RiskTier(self.risk_combo.currentData()),
            description=self.description_edit.toPlainText().strip(),
            purpose=self.purpose_edit.text().strip(),
            intended_use=self.intended_use_edit.toPlainText().strip())

    def select_existing(self, name: str) -> None:
        """Switch to ``name`` as an existing model (after the wizard itself registered it)."""
        self._taken_names.add(name)
        if self.model_combo.findData(name) < 0:
            self.model_combo.addItem(name, name)
        self.model_combo.setEnabled(True)
        self.existing_radio.setEnabled(True)
        self.model_combo.setCurrentIndex(self.model_combo.findData(name))
        self.existing_radio.setChecked(True)

    def isComplete(self) -> bool:
        if not self.is_new():
            return bool(self.model_name())
        return self._name_problem() is None

    def _name_problem(self) -> str | None:
        name = self.name_edit.text().strip()
        if not name:
            return ""  # incomplete, but nothing to complain about before the user types
        if not MODEL_NAME_PATTERN.match(name):
            return ("A model name uses 1-200 letters, digits, spaces, dots, dashes or "
                    "underscores, and starts with a letter or digit.")
        if name in self._taken_names:
            return (f"A model named '{name}' already exists: choose it under Existing model, "
                    "or pick another name.")
        return None

    def _on_choice_toggled(self) -> None:
        self.panels.setCurrentIndex(1 if self.is_new() else 0)
        self._show_name_problem()
        self.completeChanged.emit()

    def _on_name_edit_changed(self) -> None:
        self._show_name_problem()
        self.completeChanged.emit()

    def _show_name_problem(self) -> None:
        self.error_label.show_message((self._name_problem() or "") if self.is_new() else "")

    def _on_model_combo_changed(self) -> None:
        summary = self._summaries.get(self.model_combo.currentData() or "")
        self.model_facts_label.setText(_summary_text(summary) if summary else "")
        self.completeChanged.emit()

    def _on_models_loaded(self, summaries: list[ModelSummary]) -> None:
        self.models_loaded = True
        self._summaries = {summary.model.name: summary for summary in summaries}
        self._taken_names.update(self._summaries)
        self.model_combo.clear()
        for name in sorted(self._summaries, key=str.casefold):
            self.model_combo.addItem(name, name)
        if not summaries:
            self.model_combo.addItem("No models yet")
            self.existing_radio.setEnabled(False)
            self.new_radio.setChecked(True)
        else:
            self.model_combo.setEnabled(True)
            wanted = self.model_combo.findData(self._wanted_model)
            self.model_combo.setCurrentIndex(max(wanted, 0))
        self._on_model_combo_changed()
        self._show_name_problem()

    def _on_models_failed(self, error: BaseException) -> None:
        self.models_loaded = True
        self.model_combo.clear()
        self.model_combo.addItem("The models could not be loaded")
        _report_failure(self, self.error_label, error, "Loading the models")


def _summary_text(summary: ModelSummary) -> str:
    model = summary.model
    parts = [f"Owner {model.owner}", f"risk tier {model.risk_tier.value}"]
    if summary.latest_version is None:
        parts.append("no versions yet")
    else:
        count = summary.version_count
        parts.append(f"{count} version{'' if count == 1 else 's'}, "
                     f"newest v{summary.latest_version}")
    if summary.production_version is not None:
        parts.append(f"v{summary.production_version} in production")
    if model.status is ModelStatus.RETIRED:
        parts.append("retired")
    return " · ".join(parts)


class ModelFilePage(QWizardPage):
    """The fitted model: picked with a file dialog or dropped on the page, or none at all."""

    file_changed = Signal()

    def __init__(self, session: WorkspaceSession) -> None:
        super().__init__()
        self.setObjectName("modelFilePage")
        self.setTitle("Model file")
        self.setSubTitle("The fitted model, saved with skops (preferred), pickle, joblib or "
                         "ONNX. It is copied into the workspace's artifact store.")
        self.setAcceptDrops(True)
        self._session = session
        self.model_file: Path | None = None
        self.file_format: ArtifactFormat | None = None
        self.size_bytes: int | None = None
        self._checking = False

        self.drop_zone = QLabel("Drop a model file here")
        self.drop_zone.setObjectName("dropZone")
        self.drop_zone.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_zone.setMinimumHeight(72)
        self.drop_zone.setStyleSheet(
            "QLabel#dropZone { border: 2px dashed palette(mid); border-radius: 6px;"
            " color: palette(dark); }"
            "QLabel#dropZone[dragActive=\"true\"] { border-color: palette(highlight);"
            " color: palette(highlight); }")
        self.path_edit = QLineEdit()
        self.path_edit.setReadOnly(True)
        self.path_edit.setPlaceholderText("No file chosen")
        self.choose_button = QPushButton("&Choose a file…")
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.choose_button)
        self.format_label = QLabel("—")
        self.format_label.setWordWrap(True)
        self.size_label = QLabel("—")
        form = QFormLayout()
        form.addRow("File:", file_row)
        form.addRow("Format:", self.format_label)
        form.addRow("Size:", self.size_label)
        self.no_artifact_checkbox = QCheckBox(
            "&Without a model file: the model is scored elsewhere, record only its details")
        self.error_label = MessageLabel()

        layout = QVBoxLayout(self)
        layout.addWidget(self.drop_zone)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(self.no_artifact_checkbox)
        layout.addStretch(1)
        layout.addWidget(self.error_label)

        self.choose_button.clicked.connect(self._on_choose_button_clicked)
        self.no_artifact_checkbox.toggled.connect(self._on_no_artifact_toggled)

    def set_model_file(self, path: Path | str) -> None:
        """Use ``path`` as the model file; its format is checked in the background."""
        self.model_file = Path(path)
        self.file_format = None
        self.size_bytes = None
        self._checking = True
        self.path_edit.setText(str(self.model_file))
        self.path_edit.setCursorPosition(len(self.path_edit.text()))  # the name is at the end
        self.format_label.setText("Checking…")
        self.size_label.setText("—")
        self.error_label.clear_message()
        self.file_changed.emit()
        self.completeChanged.emit()
        path = self.model_file
        self._session.work.read(f"Checking {path.name}", lambda control: check_model_file(path),
                                on_success=self._on_file_checked,
                                on_failure=self._on_file_check_failed)

    def without_artifact(self) -> bool:
        return self.no_artifact_checkbox.isChecked()

    def needs_trust(self) -> bool:
        return (not self.without_artifact() and self.file_format is not None
                and self.file_format.executes_code_on_load)

    def isComplete(self) -> bool:
        return self.without_artifact() or (self.file_format is not None and not self._checking)

    def nextId(self) -> int:
        return PAGE_TRUST if self.needs_trust() else PAGE_DETAILS

    # Drops: one local file, anywhere on the page.

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_file(event) is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self._set_drag_active(True)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._dropped_file(event) is None:
            event.ignore()
        else:
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._set_drag_active(False)
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_drag_active(False)
        path = self._dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.set_model_file(path)

    def _dropped_file(self, event: QDropEvent) -> Path | None:
        if self.without_artifact():
            return None
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if len(urls) != 1 or not urls[0].isLocalFile():
            return None
        return Path(urls[0].toLocalFile())

    def _set_drag_active(self, active: bool) -> None:
        self.drop_zone.setProperty("dragActive", active)
        self.drop_zone.style().unpolish(self.drop_zone)
        self.drop_zone.style().polish(self.drop_zone)

    def _on_choose_button_clicked(self) -> None:
        start = str(self.model_file.parent) if self.model_file else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose the model file", start,
                                              MODEL_FILE_FILTER)
        if path:
            self.set_model_file(path)

    def _on_no_artifact_toggled(self, checked: bool) -> None:
        for widget in (self.drop_zone, self.path_edit, self.choose_button, self.format_label,
                       self.size_label):
            widget.setEnabled(not checked)
        self.error_label.setVisible(not checked and bool(self.error_label.text()))
        self.file_changed.emit()
        self.completeChanged.emit()

    def _on_file_checked(self, check: FileCheck) -> None:
        if check.path != self.model_file:
            return  # an answer about a file the user has since replaced
        self._checking = False
        if check.problem is not None:
            self.format_label.setText("—")
            self.error_label.show_message(check.problem)
        else:
            self.file_format = check.file_format
            self.size_bytes = check.size_bytes
            self.format_label.setText(FORMAT_TEXT[check.file_format])
            self.size_label.setText(describe_size(check.size_bytes or 0))
        self.completeChanged.emit()

    def _on_file_check_failed(self, error: BaseException) -> None:
        self._checking = False
        self.format_label.setText("—")
        _report_failure(self, self.error_label, error, "Checking the file")
        self.completeChanged.emit()


class TrustPage(QWizardPage):
    """Shown only for pickle/joblib: whether to unpickle the file, with an audited reason."""

    def __init__(self, file_page: ModelFilePage) -> None:
        super().__init__()
        self.setObjectName("trustPage")
        self.setTitle("Do you trust this file?")
        self.setSubTitle("Pickle and joblib files can run code when they are opened.")
        self._file_page = file_page
        self.explanation_label = QLabel()
        self.explanation_label.setWordWrap(True)
        self.explanation_label.setTextFormat(Qt.TextFormat.RichText)
        self.trust_checkbox = QCheckBox("I &trust this file: load it to read its parameters")
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText(
            "e.g. trained by our team in the nightly pipeline (recorded in the audit log)")
        self.reason_edit.setEnabled(False)
        reason_label = QLabel("&Reason:")
        reason_label.setBuddy(self.reason_edit)
        reason_row = QHBoxLayout()
        reason_row.setContentsMargins(24, 0, 0, 0)
        reason_row.addWidget(reason_label)
        reason_row.addWidget(self.reason_edit, 1)
        self.consequence_label = QLabel()
        self.consequence_label.setWordWrap(True)
        self.consequence_label.setObjectName("consequenceLabel")

        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation_label)
        layout.addSpacing(8)
        layout.addWidget(self.trust_checkbox)
        layout.addLayout(reason_row)
        layout.addSpacing(8)
        layout.addWidget(self.consequence_label)
        layout.addStretch(1)

        self.trust_checkbox.toggled.connect(self._on_trust_checkbox_toggled)
        self.reason_edit.textChanged.connect(self.completeChanged)
        self._on_trust_checkbox_toggled(False)

    def initializePage(self) -> None:
        path = self._file_page.model_file
        file_format = self._file_page.file_format
        name = html.escape(path.name if path else "")
        kind = file_format.value if file_format else "pickle"
        self.explanation_label.setText(
            f"<p><b>{name}</b> is a {kind} file. Opening a {kind} file runs whatever code is "
            "inside it, with your permissions: a tampered file can read, change or delete "
            "your files, or install malware.</p>"
            "<p>Trust it only if it comes from someone you know, through a channel you "
            "trust. The safe alternative is to ask for the model saved with skops "
            "(<code>skops.io.dump</code>), which ModelLedger reads without running code.</p>")

    def isComplete(self) -> bool:
        return not self.trust_checkbox.isChecked() or bool(self.reason_edit.text().strip())

    def trust_reason(self) -> str | None:
        if not self.trust_checkbox.isChecked():
            return None
        return self.reason_edit.text().strip()

    def reset(self) -> None:
        """Trust was given for one file: another file starts untrusted again."""
        self.trust_checkbox.setChecked(False)
        self.reason_edit.clear()

    def _on_trust_checkbox_toggled(self, checked: bool) -> None:
        self.reason_edit.setEnabled(checked)
        if checked:
            self.reason_edit.setFocus()
            self.consequence_label.setText(
                "ModelLedger will load the file to read its estimator and parameters. Your "
                "name and reason are recorded in the audit log; the trust then holds for "
                "this exact file (by its SHA-256) for everyone in the workspace.")
        else:
            self.consequence_label.setText(
                "Without trust, the file is still stored and versioned, but never opened: "
                "its estimator and parameters are not extracted, and it cannot be loaded for "
                "scoring until someone records that they trust it.")
        self.completeChanged.emit()


class DetailsPage(QWizardPage):
    """Optional facts recorded with the version; pressing Import here starts the write."""

    def __init__(self, session: WorkspaceSession, model_page: ModelPage) -> None:
        super().__init__()
        self.setObjectName("detailsPage")
        self.setTitle("Version details")
        self.setSubTitle("All optional. They are recorded with the version and in the audit "
                         "log.")
        # A commit page: while the import runs and after it succeeded there is no way back.
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Import")
        self.setButtonText(QWizard.WizardButton.NextButton, "&Import")
        self._session = session
        self._model_page = model_page
        self._versions_of: str | None = None

        self.training_data_edit = QLineEdit()
        self.training_data_edit.setPlaceholderText("CSV, Parquet or Excel file, for a "
                                                   "fingerprint of the data")
        self.browse_button = QPushButton("Brows&e…")
        training_row = QHBoxLayout()
        training_row.addWidget(self.training_data_edit, 1)
        training_row.addWidget(self.browse_button)
        self.metrics_edit = _multiline_edit("auc=0.81\nks=0.42", 3)
        self.parent_combo = QComboBox()
        self.parent_combo.setMinimumContentsLength(24)
        self.notes_edit = _multiline_edit("What changed in this version, and why", 3)
        self.error_label = MessageLabel()

        form = QFormLayout()
        training_label = QLabel("&Training data:")
        training_label.setBuddy(self.training_data_edit)
        form.addRow(training_label, training_row)
        form.addRow("&Metrics:", self.metrics_edit)
        form.addRow("&Parent version:", self.parent_combo)
        form.addRow("N&otes:", self.notes_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(self.error_label)

        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.training_data_edit.textChanged.connect(self._on_input_changed)
        self.metrics_edit.textChanged.connect(self._on_input_changed)

    def initializePage(self) -> None:
        if self._model_page.is_new():
            self._versions_of = None
            self.parent_combo.clear()
            self.parent_combo.addItem("None (new model)", None)
            self.parent_combo.setEnabled(False)
            return
        name = self._model_page.model_name()
        if name == self._versions_of:
            return
        self._versions_of = name
        self.parent_combo.clear()
        self.parent_combo.addItem("None", None)
        self.parent_combo.setEnabled(False)
        registry = self._session.workspace.registry
        self._session.work.read(
            f"Loading the versions of {name}",
            lambda control: (name, registry.list_versions(name)),
            on_success=self._on_versions_loaded, on_failure=self._on_versions_failed)

    def training_data(self) -> Path | None:
        text = self.training_data_edit.text().strip()
        return Path(text) if text else None

    def metrics(self) -> dict[str, float]:
        return parse_metrics(self.metrics_edit.toPlainText())

    def parent_version(self) -> int | None:
        return self.parent_combo.currentData()

    def notes(self) -> str:
        return self.notes_edit.toPlainText().strip()

    def isComplete(self) -> bool:
        return self._input_problem() is None

    def _input_problem(self) -> str | None:
        training_data = self.training_data()
        if training_data is not None and training_data.suffix.lower() not in TRAINING_DATA_READERS:
            return (f"Training data must be a {', '.join(sorted(TRAINING_DATA_READERS))} file, "
                    f"not '{training_data.name}'.")
        try:
            self.metrics()
        except InvalidInputError as error:
            return str(error)
        return None

    def _on_input_changed(self) -> None:
        self.error_label.show_message(self._input_problem() or "")
        self.completeChanged.emit()

    def _on_browse_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the training data", "",
                                              TRAINING_DATA_FILTER)
        if path:
            self.training_data_edit.setText(path)

    def _on_versions_loaded(self, loaded: tuple[str, list[ModelVersion]]) -> None:
        name, versions = loaded
        if name != self._versions_of:
            return
        for version in sorted(versions, key=lambda v: v.version_number, reverse=True):
            self.parent_combo.addItem(f"v{version.version_number} ({version.stage.value})",
                                      version.version_number)
        self.parent_combo.setEnabled(bool(versions))

    def _on_versions_failed(self, error: BaseException) -> None:
        self._versions_of = None
        _report_failure(self, self.error_label, error, "Loading the versions")


class ImportPage(QWizardPage):
    """Runs the import as soon as it is shown, with progress, cancel and the outcome."""

    running_changed = Signal(bool)
    imported = Signal(object)  # the new ModelVersion
    registered_without_version = Signal(str)  # model name

    def __init__(self, session: WorkspaceSession, plan_source: Callable[[], ImportPlan]) -> None:
        super().__init__()
        self.setObjectName("importPage")
        self.setTitle("Import")
        self.setSubTitle("The model file is copied into the artifact store, then the version is "
                         "recorded. Cancelling leaves nothing half-written.")
        self.setButtonText(QWizard.WizardButton.FinishButton, "&Close")
        self._session = session
        self._plan_source = plan_source
        self.task: Task | None = None
        self.version: ModelVersion | None = None
        self._cancel_requested = False
        self._outcome = ImportOutcome()

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel &import")
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.cancel_button)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label = QLabel()
        self.result_label.setObjectName("resultLabel")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label = MessageLabel()

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary_label)
        layout.addSpacing(12)
        layout.addLayout(progress_row)
        layout.addWidget(self.status_label)
        layout.addSpacing(8)
        layout.addWidget(self.result_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

        self.cancel_button.clicked.connect(self.cancel)

    @property
    def is_running(self) -> bool:
        return self.task is not None

    @property
    def succeeded(self) -> bool:
        return self.version is not None

    def isComplete(self) -> bool:
        return self.succeeded

    def initializePage(self) -> None:
        self._reset()
        plan = self._plan_source()
        self._outcome = outcome = ImportOutcome()
        self.summary_label.setText(_plan_text(plan))
        registry = self._session.workspace.registry
        self.task = self._session.work.write(
            f"Importing {plan.model_name}",
            lambda control: run_import(registry, plan, control, outcome),
            on_success=self._on_task_succeeded, on_failure=self._on_task_failed)
        self.task.progressed.connect(self._on_task_progressed)
        self.task.cancelled.connect(self._on_task_cancelled)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText("Starting…")
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.running_changed.emit(True)

    def cleanupPage(self) -> None:
        self._reset()

    def cancel(self) -> None:
        if self.task is None:
            return
        self.task.cancel()
        self._cancel_requested = True
        self.cancel_button.setEnabled(False)
        self.status_label.setText("Cancelling…")

    def _reset(self) -> None:
        self.version = None
        self._cancel_requested = False
        self.result_label.clear()
        self.error_label.clear_message()
        self.status_label.clear()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.show()

    def _finish(self) -> None:
        self.task = None
        self.cancel_button.hide()
        self.progress_bar.setVisible(self.succeeded)
        self.running_changed.emit(False)
        self.completeChanged.emit()

    def _on_task_progressed(self, done: int, total: int, text: str) -> None:
        if self.task is None or self._cancel_requested:
            return  # keep saying "Cancelling…"
        if text == COPYING_TEXT and 0 < done < total:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(done * 1000 // total)
            self.status_label.setText(f"{text}: {describe_size(done)} of "
                                      f"{describe_size(total)}")
        elif text == COPYING_TEXT and total and done >= total:
            # The copy is done; checking its hash, reading the model and the database write
            # follow without progress of their own.
            self.progress_bar.setRange(0, 0)
            self.status_label.setText("Checking the file and recording the version…")
        else:
            self.progress_bar.setRange(0, 0)
            self.status_label.setText(f"{text}…")

    def _on_task_succeeded(self, version: ModelVersion) -> None:
        self.version = version
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.status_label.setText("Done.")
        self.result_label.setText(_result_text(version))
        log.info("imported %s v%s", version.model_name, version.version_number)
        self._finish()
        self.imported.emit(version)

    def _on_task_failed(self, error: BaseException) -> None:
        self.status_label.setText("The import failed.")
        registered = self._outcome.registered_model
        if isinstance(error, ModelLedgerError):
            message = f"{error}\n\n"
        else:
            message = "The import failed because of a bug in ModelLedger.\n\n"
            show_error(self, error)
        if registered is not None:
            message += (f"The model '{registered.name}' was registered, but no version was "
                        "imported. Press Back to fix the problem and import again: the "
                        f"version will be added to '{registered.name}'.")
        else:
            message += "Nothing was imported. Press Back to fix the problem and try again."
        self.error_label.show_message(message)
        self._announce_registration_without_version(registered)
        self._finish()

    def _on_task_cancelled(self) -> None:
        registered = self._outcome.registered_model
        if registered is not None:
            self.status_label.setText(
                f"Import cancelled. The model '{registered.name}' was registered, but it has "
                "no version yet: press Back to import one, or close the wizard.")
        else:
            self.status_label.setText("Import cancelled. Nothing was stored.")
        self._announce_registration_without_version(registered)
        self._finish()

    def _announce_registration_without_version(self, registered: RegisteredModel | None) -> None:
        if registered is not None:
            self.registered_without_version.emit(registered.name)


def _plan_text(plan: ImportPlan) -> str:
    lines = []
    if plan.new_model is not None:
        lines.append(f"Register the new model {plan.model_name} (risk tier "
                     f"{plan.new_model.risk_tier.value}).")
    if plan.model_file is None:
        lines.append(f"Add a version to {plan.model_name} without a model file.")
    else:
        lines.append(f"Add a version to {plan.model_name} from {plan.model_file.name}.")
        if plan.trust_reason:
            lines.append("The file is trusted: it will be loaded to read its parameters.")
    extras = []
    if plan.training_data is not None:
        extras.append(f"training data {plan.training_data.name}")
    if plan.metrics:
        extras.append(f"{len(plan.metrics)} metric(s)")
    if plan.parent_version is not None:
        extras.append(f"parent v{plan.parent_version}")
    if extras:
        lines.append("With " + ", ".join(extras) + ".")
    return "\n".join(lines)


def _result_text(version: ModelVersion) -> str:
    head = f"{version.model_name} v{version.version_number} registered"
    artifact = version.artifact
    if artifact is None:
        return f"{head} without a model file."
    lines = [f"{head}, artifact sha256 {artifact.sha256[:12]}… "
             f"({describe_size(artifact.size_bytes)}, {artifact.format.value})."]
    if version.estimator_class:
        lines.append(f"{version.estimator_class.rsplit('.', 1)[-1]}: "
                     f"{len(version.parameters)} parameter(s) recorded.")
    elif artifact.format.executes_code_on_load:
        lines.append("The file was stored without being opened (not trusted), so no "
                     "parameters were extracted.")
    return "\n".join(lines)


# -- the wizard -------------------------------------------------------------------------------


class ImportWizard(QWizard):
    """Register a model and/or import a version; open it with ``open()``, it never blocks."""

    finished_import = Signal(object)  # the new ModelVersion

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None, *,
                 model_name: str | None = None, register_new: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("importWizard")
        self.setWindowTitle("Register a model" if register_new else "Import a model version")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        self.setMinimumSize(640, 480)
        self.session = session

        self.model_page = ModelPage(session, model_name=model_name, register_new=register_new)
        self.file_page = ModelFilePage(session)
        self.trust_page = TrustPage(self.file_page)
        self.details_page = DetailsPage(session, self.model_page)
        self.import_page = ImportPage(session, self.plan)
        self.setPage(PAGE_MODEL, self.model_page)
        self.setPage(PAGE_FILE, self.file_page)
        self.setPage(PAGE_TRUST, self.trust_page)
        self.setPage(PAGE_DETAILS, self.details_page)
        self.setPage(PAGE_IMPORT, self.import_page)
        self.setStartId(PAGE_MODEL)

        self.file_page.file_changed.connect(self.trust_page.reset)
        self.import_page.running_changed.connect(self._on_import_page_running_changed)
        self.import_page.imported.connect(self.finished_import)
        self.import_page.registered_without_version.connect(self.model_page.select_existing)

    def plan(self) -> ImportPlan:
        """What the pages say to do; only called once every page has accepted its input."""
        with_file = not self.file_page.without_artifact()
        return ImportPlan(
            model_name=self.model_page.model_name(),
            new_model=self.model_page.new_model(),
            model_file=self.file_page.model_file if with_file else None,
            trust_reason=self.trust_page.trust_reason() if self.file_page.needs_trust()
            else None,
            training_data=self.details_page.training_data(),
            metrics=self.details_page.metrics(),
            parent_version=self.details_page.parent_version(),
            notes=self.details_page.notes(),
        )

    def reject(self) -> None:
        # Escape or closing the window stops a running import instead of abandoning it, and
        # after a successful import closing is the same as Close.
        if self.import_page.is_running:
            self.import_page.cancel()
        elif self.import_page.succeeded:
            self.accept()
        else:
            super().reject()

    def _on_import_page_running_changed(self, running: bool) -> None:
        done = running or self.import_page.succeeded
        self.setOption(QWizard.WizardOption.NoCancelButton, done)
        # The page before a commit page is unreachable by Back: after a failure or a cancel,
        # Back is allowed again so the user can fix the input.
        self.details_page.setCommitPage(done)
