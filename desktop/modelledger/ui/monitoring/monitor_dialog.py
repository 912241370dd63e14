"""Creating a monitor, or changing one: data, columns, schedule, thresholds and KPIs.

The reference data is read on a worker thread (its columns fill the column pickers); creating
the monitor reads and profiles it again, also on a worker, while the dialog shows it is busy.
Everything the user typed is checked before OK does anything, and problems are shown next to
the fields, not in a message box.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.errors import InvalidInputError
from modelledger.core.kpi import (
    ALLOWED,
    BOTH,
    EXAMPLE,
    HIGHER,
    LOWER,
    KpiDefinition,
    check_expression,
)
from modelledger.core.monitoring import (
    DEFAULT_THRESHOLDS,
    DataSource,
    FolderPick,
    Monitor,
    MonitorSpec,
    Schedule,
    ScheduleKind,
    SourceKind,
    Task,
    Threshold,
    metric_label,
)
from modelledger.services.monitoring.service import DEFAULT_MAX_FAILURES, DEFAULT_TIMEOUT_S
from modelledger.services.scheduling.schedules import validate_schedule
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.widgets.dialogs import HINT_STYLE, PROBLEM_STYLE, hint_label

log = logging.getLogger(__name__)

DATA_FILES = "Data files (*.csv *.parquet *.xlsx);;All files (*)"
PROBLEM_BACKGROUND = QColor("#fde7e9")
INTERVAL_UNITS = (("minutes", 60), ("hours", 3600), ("days", 86400))
DIRECTIONS = ((HIGHER, "Higher is better"), (LOWER, "Lower is better"),
              (BOTH, "Close to the target"))
# The columns a run adds when it scores the data with the stored model (run_worker's names).
SCORED_COLUMNS = ("prediction", "score")
ROLE_GUESSES = {
    "prediction": ("prediction", "predicted", "pred", "y_pred"),
    "score": ("score", "probability", "proba", "y_score"),
    "label": ("label", "target", "actual", "outcome", "y_true"),
    "timestamp": ("timestamp", "scored_at", "event_time", "time", "date"),
}
KPI_NAME, KPI_EXPRESSION, KPI_TARGET, KPI_TOLERANCE, KPI_DIRECTION = range(5)
THRESHOLD_WARN, THRESHOLD_CRITICAL = 2, 3


def read_reference_columns(path: Path) -> tuple[list[str], int]:
    """The columns and row count of a reference file (runs on a worker thread)."""
    from modelledger.services.data.sources import read_table

    frame = read_table(path, "Reference data")
    return [str(column) for column in frame.columns], len(frame)


def read_stored_reference_columns(session: WorkspaceSession, monitor: Monitor) -> list[str]:
    """The columns of a monitor's stored reference data: only the Parquet schema is read."""
    import pyarrow.parquet as parquet

    path = session.workspace.artifacts.verified_path(monitor.reference_sha256)
    return [str(name) for name in parquet.read_schema(path).names]


def threshold_subject(key: str) -> tuple[str, str]:
    """``"drift.psi@income"`` -> (``"drift.psi"``, ``"income"``)."""
    metric, _, subject = key.partition("@")
    return metric, subject


def _applies_to(key: str) -> str:
    metric, subject = threshold_subject(key)
    if subject:
        return subject
    if metric in ("drift.share", "quality.schema_changes") or metric.startswith("performance."):
        return "whole data"
    if metric.startswith("prediction."):
        return "prediction"
    return "every column"


def _number_text(value: float) -> str:
    return f"{value:g}"


class FormProblem(Exception):
    """Something to fix before OK can do anything; ``widget`` is where to fix it."""

    def __init__(self, message: str, widget: QWidget | None = None) -> None:
        super().__init__(message)
        self.widget = widget


@dataclass(frozen=True)
class MonitorForm:
    """Everything the dialog collected, checked."""

    model_name: str
    name: str
    reference: Path | None
    spec: MonitorSpec
    schedule: Schedule
    max_failures: int
    timeout_s: int
    password: str
    reason: str


class MonitorDialog(QDialog):
    saved = Signal(str, int)  # what happened, and the monitor's id
    columns_loaded = Signal()  # the reference columns arrived and fill the pickers

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None, *,
                 model_name: str | None = None, monitor: Monitor | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("monitorDialog")
        self._session = session
        self._monitor = monitor
        self._wanted_model = monitor.model_name if monitor else model_name
        self._columns: list[str] | None = None
        self._columns_path: Path | None = None  # the reference file the columns come from
        self._reference_problem = ""  # why the reference file could not be read
        self._columns_generation = 0
        self._saving = False
        self._kpi_problems: list[str] = []
        self.setWindowTitle(f"Edit monitor {monitor.model_name} / {monitor.name}" if monitor
                            else "New monitor")
        self.setMinimumSize(760, 600)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_data_tab(), "Data")
        self.tabs.addTab(self._build_columns_tab(), "Columns")
        self.tabs.addTab(self._build_schedule_tab(), "Schedule")
        self.tabs.addTab(self._build_thresholds_tab(), "Thresholds")
        self.tabs.addTab(self._build_kpis_tab(), "KPIs")
        self._build_bottom()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.reason_box)
        layout.addWidget(self.message_label)
        layout.addLayout(self.busy_row)
        layout.addWidget(self.buttons)
        if monitor is None:
            self._fill_thresholds({})
            self._load_models()
        else:
            self._fill_from_monitor(monitor)

    # -- building -------------------------------------------------------------------------------

    def _build_data_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.model_combo = QComboBox()
        self.model_combo.setPlaceholderText("Loading models…")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. weekly drift")
        self.reference_edit = QLineEdit()
        self.reference_edit.setPlaceholderText("the data the model was validated on "
                                               "(.csv, .parquet, .xlsx)")
        self.reference_edit.editingFinished.connect(self._on_reference_edit_editing_finished)
        self.reference_button = QPushButton("Browse…")
        self.reference_button.clicked.connect(self._on_reference_button_clicked)
        self.reference_status = hint_label("Choose the reference data to see its columns.")
        form.addRow("Model", self.model_combo)
        form.addRow("Monitor name", self.name_edit)
        form.addRow("Reference data", self._with_button(self.reference_edit,
                                                        self.reference_button))
        form.addRow("", self.reference_status)

        self.source_kind = QComboBox()
        for title, kind in (("A file", SourceKind.FILE),
                            ("A file from a folder", SourceKind.FOLDER),
                            ("A SQL query", SourceKind.SQL)):
            self.source_kind.addItem(title, kind)
        self.source_stack = QStackedWidget()
        self.source_kind.currentIndexChanged.connect(self._on_source_kind_current_index_changed)

        file_page = QWidget()
        file_form = QFormLayout(file_page)
        file_form.setContentsMargins(0, 0, 0, 0)
        self.file_path_edit = QLineEdit()
        self.file_path_edit.setPlaceholderText("read again at every run, e.g. a nightly export")
        file_button = QPushButton("Browse…")
        file_button.clicked.connect(self._on_file_button_clicked)
        file_form.addRow("File", self._with_button(self.file_path_edit, file_button))

        folder_page = QWidget()
        folder_form = QFormLayout(folder_page)
        folder_form.setContentsMargins(0, 0, 0, 0)
        self.folder_path_edit = QLineEdit()
        folder_button = QPushButton("Browse…")
        folder_button.clicked.connect(self._on_folder_button_clicked)
        self.pattern_edit = QLineEdit("*.csv")
        self.pick_combo = QComboBox()
        self.pick_combo.addItem("The most recently changed file", FolderPick.NEWEST)
        self.pick_combo.addItem("The latest date in the file name (YYYY-MM-DD) up to the run's "
                                "slot", FolderPick.DATE_IN_NAME)
        folder_form.addRow("Folder", self._with_button(self.folder_path_edit, folder_button))
        folder_form.addRow("Files matching", self.pattern_edit)
        folder_form.addRow("Use", self.pick_combo)

        sql_page = QWidget()
        sql_form = QFormLayout(sql_page)
        sql_form.setContentsMargins(0, 0, 0, 0)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("postgresql://reporting@dbhost/warehouse (no password)")
        self.query_edit = QPlainTextEdit()
        self.query_edit.setPlaceholderText("SELECT * FROM scored_applications")
        self.query_edit.setTabChangesFocus(True)
        self.query_edit.setFixedHeight(64)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_hint = hint_label("Kept in the system keyring of this computer, never in the "
                                        "workspace. Leave empty if the database needs none.")
        sql_form.addRow("Database URL", self.url_edit)
        sql_form.addRow("Query", self.query_edit)
        sql_form.addRow("Password", self.password_edit)
        sql_form.addRow("", self.password_hint)
        for page in (file_page, folder_page, sql_page):
            self.source_stack.addWidget(page)
        form.addRow("Current data", self.source_kind)
        form.addRow("", self.source_stack)
        layout = QVBoxLayout(tab)
        layout.addLayout(form)
        layout.addStretch(1)
        return tab

    @staticmethod
    def _with_button(edit: QLineEdit, button: QPushButton) -> QWidget:
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(edit, 1)
        line.addWidget(button)
        return row

    def _build_columns_tab(self) -> QWidget:
        tab = QWidget()
        self.feature_list = QListWidget()
        self.feature_list.setObjectName("featureList")
        features = QVBoxLayout()
        features.addWidget(QLabel("<b>Feature columns</b> to watch for drift and quality"))
        features.addWidget(self.feature_list, 1)
        self.task_combo = QComboBox()
        self.task_combo.addItem("Classification", Task.CLASSIFICATION)
        self.task_combo.addItem("Regression", Task.REGRESSION)
        self.prediction_combo = QComboBox()
        self.score_combo = QComboBox()
        self.label_combo = QComboBox()
        self.timestamp_combo = QComboBox()
        for combo in (self.prediction_combo, self.score_combo, self.label_combo,
                      self.timestamp_combo):
            combo.setMinimumContentsLength(18)
            combo.currentIndexChanged.connect(self._on_role_combo_changed)
        self.timestamp_combo.currentIndexChanged.connect(self._update_window_enabled)
        self.window_spin = QDoubleSpinBox()
        self.window_spin.setRange(0, 3650)
        self.window_spin.setDecimals(1)
        self.window_spin.setSuffix(" days")
        self.window_spin.setSpecialValueText("all rows")
        self.min_sample_spin = QSpinBox()
        self.min_sample_spin.setRange(1, 10_000_000)
        self.min_sample_spin.setValue(100)
        self.min_sample_spin.setSuffix(" rows")
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setObjectName("topKSpin")
        self.top_k_spin.setRange(1, 1000)
        self.top_k_spin.setValue(3)
        self.top_k_spin.setSuffix(" features")
        roles = QFormLayout()
        roles.addRow("Task", self.task_combo)
        roles.addRow("Prediction", self.prediction_combo)
        roles.addRow("", hint_label("Without a prediction column, each run scores the data "
                                    "with the monitored version's model file (the production "
                                    "version)."))
        roles.addRow("Probability", self.score_combo)
        roles.addRow("Label", self.label_combo)
        roles.addRow("Timestamp", self.timestamp_combo)
        roles.addRow("Window", self.window_spin)
        roles.addRow("", hint_label("Only rows stamped within this many days before the run's "
                                    "slot."))
        roles.addRow("Minimum sample", self.min_sample_spin)
        roles.addRow("Most important", self.top_k_spin)
        roles.addRow("", hint_label("Each run judges the share of the model's most important "
                                    "features that drift (importance is measured from the "
                                    "version's model file); its thresholds are on the "
                                    "Thresholds tab."))
        layout = QHBoxLayout(tab)
        layout.addLayout(features, 1)
        layout.addSpacing(8)
        layout.addLayout(roles, 1)
        self._fill_column_pickers([])
        return tab

    def _build_schedule_tab(self) -> QWidget:
        tab = QWidget()
        self.interval_radio = QRadioButton("Every")
        self.cron_radio = QRadioButton("Cron")
        group = QButtonGroup(tab)
        group.addButton(self.interval_radio)
        group.addButton(self.cron_radio)
        self.interval_radio.setChecked(True)
        self.interval_spin = QSpinBox()
        self.interval_spin.setRange(1, 9999)
        self.interval_spin.setValue(1)
        self.interval_unit = QComboBox()
        for unit, seconds in INTERVAL_UNITS:
            self.interval_unit.addItem(unit, seconds)
        self.interval_unit.setCurrentIndex(2)
        self.cron_edit = QLineEdit("0 6 * * *")
        self.cron_edit.setPlaceholderText("minute hour day-of-month month day-of-week")
        self.interval_radio.toggled.connect(self._update_schedule_enabled)
        interval_row = QHBoxLayout()
        interval_row.addWidget(self.interval_radio)
        interval_row.addWidget(self.interval_spin)
        interval_row.addWidget(self.interval_unit)
        interval_row.addStretch(1)
        cron_row = QHBoxLayout()
        cron_row.addWidget(self.cron_radio)
        cron_row.addWidget(self.cron_edit, 1)
        self.max_failures_spin = QSpinBox()
        self.max_failures_spin.setRange(1, 100)
        self.max_failures_spin.setValue(DEFAULT_MAX_FAILURES)
        self.max_failures_spin.setSuffix(" failed runs in a row")
        self.timeout_spin = QSpinBox()
        self.timeout_spin.setRange(1, 24 * 60)
        self.timeout_spin.setValue(DEFAULT_TIMEOUT_S // 60)
        self.timeout_spin.setSuffix(" min")
        form = QFormLayout()
        form.addRow("Pause after", self.max_failures_spin)
        form.addRow("Time limit per run", self.timeout_spin)
        layout = QVBoxLayout(tab)
        layout.addWidget(QLabel("<b>When the monitor runs</b>"))
        layout.addLayout(interval_row)
        layout.addLayout(cron_row)
        layout.addWidget(hint_label("Cron times are in UTC, e.g. “0 6 * * 1” is Mondays at 06:00. "
                                    "Slots missed while no instance was running are caught up with "
                                    "one run."))
        layout.addSpacing(12)
        layout.addLayout(form)
        layout.addWidget(hint_label("A failed run is retried with growing delays; after this many "
                                    "failures in a row the monitor pauses itself and raises an "
                                    "alert."))
        layout.addStretch(1)
        self._update_schedule_enabled()
        return tab

    def _build_thresholds_tab(self) -> QWidget:
        tab = QWidget()
        self.threshold_table = QTableWidget(0, 5)
        self.threshold_table.setObjectName("thresholdTable")
        self.threshold_table.setHorizontalHeaderLabels(
            ("Metric", "Applies to", "Warn at", "Critical at", "Worse when"))
        self.threshold_table.verticalHeader().setVisible(False)
        self.threshold_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        header = self.threshold_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((190, 130, 90, 90)):
            self.threshold_table.setColumnWidth(column, width)
        layout = QVBoxLayout(tab)
        layout.addWidget(hint_label("A metric at or beyond its warn or critical value makes the "
                                    "run warn or critical and raises an alert. Double-click a "
                                    "value to change it."))
        layout.addWidget(self.threshold_table, 1)
        return tab

    def _build_kpis_tab(self) -> QWidget:
        tab = QWidget()
        self.kpi_table = QTableWidget(0, 5)
        self.kpi_table.setObjectName("kpiTable")
        self.kpi_table.setHorizontalHeaderLabels(
            ("Name", "Expression", "Target", "Tolerance", "Direction"))
        self.kpi_table.verticalHeader().setVisible(False)
        header = self.kpi_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(KPI_EXPRESSION, QHeaderView.ResizeMode.Stretch)
        for column, width in ((KPI_NAME, 140), (KPI_TARGET, 70), (KPI_TOLERANCE, 76),
                              (KPI_DIRECTION, 150)):
            self.kpi_table.setColumnWidth(column, width)
        self.kpi_table.itemChanged.connect(self._on_kpi_table_item_changed)
        add = QPushButton("Add KPI")
        add.clicked.connect(lambda: self.add_kpi_row("", "", 0.0, 0.0))
        self.remove_kpi_button = QPushButton("Remove")
        self.remove_kpi_button.clicked.connect(self._on_remove_kpi_button_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove_kpi_button)
        buttons.addStretch(1)
        self.kpi_message = QLabel()
        self.kpi_message.setObjectName("kpiMessage")
        self.kpi_message.setWordWrap(True)
        self.kpi_message.setStyleSheet(PROBLEM_STYLE)
        self.kpi_message.hide()
        layout = QVBoxLayout(tab)
        layout.addWidget(hint_label(f"Business KPIs computed on each run's data, e.g. {EXAMPLE}. "
                                    f"{ALLOWED}"))
        layout.addWidget(self.kpi_table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.kpi_message)
        return tab

    def _build_bottom(self) -> None:
        self.reason_box = QWidget()
        reason_layout = QVBoxLayout(self.reason_box)
        reason_layout.setContentsMargins(0, 0, 0, 0)
        self.reason_edit = QPlainTextEdit()
        self.reason_edit.setPlaceholderText("Reason for the change (recorded in the audit "
                                            "timeline)")
        self.reason_edit.setTabChangesFocus(True)
        self.reason_edit.setFixedHeight(52)
        reason_layout.addWidget(self.reason_edit)
        self.reason_box.setVisible(self._monitor is not None)
        self.message_label = QLabel()
        self.message_label.setObjectName("formMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet(PROBLEM_STYLE)
        self.message_label.hide()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(120)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setTextVisible(False)
        self.busy_label = QLabel()
        self.busy_row = QHBoxLayout()
        self.busy_row.addWidget(self.busy_bar)
        self.busy_row.addWidget(self.busy_label, 1)
        self.busy_bar.hide()
        self.busy_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Save changes" if self._monitor else "Create monitor")
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    # -- filling --------------------------------------------------------------------------------

    def _load_models(self) -> None:
        registry = self._session.workspace.registry
        self._session.work.read(
            "Loading models", lambda control: [s.model.name for s in registry.list_models()],
            on_success=self._on_models_loaded, context=self)

    def _on_models_loaded(self, names: list[str]) -> None:
        self.model_combo.clear()
        self.model_combo.addItems(names)
        if not names:
            self.model_combo.setPlaceholderText("Register a model first")
        index = self.model_combo.findText(self._wanted_model or "")
        self.model_combo.setCurrentIndex(index if index >= 0 else (0 if names else -1))

    def _fill_from_monitor(self, monitor: Monitor) -> None:
        spec = monitor.spec
        self.model_combo.addItem(monitor.model_name)
        self.model_combo.setCurrentIndex(0)
        self.model_combo.setEnabled(False)
        self.name_edit.setText(monitor.name)
        self.name_edit.setEnabled(False)
        self.reference_edit.setText(monitor.reference_name)
        self.reference_edit.setEnabled(False)
        self.reference_button.setEnabled(False)
        fixed = "Fixed when the monitor was created; create a new monitor to change it."
        for widget in (self.model_combo, self.name_edit, self.reference_edit):
            widget.setToolTip(fixed)
        self.reference_status.setText(f"{monitor.reference_rows:,} rows stored with the "
                                      "monitor. Reading its columns…")
        source = spec.source
        self.source_kind.setCurrentIndex(self.source_kind.findData(source.kind))
        if source.kind is SourceKind.FILE:
            self.file_path_edit.setText(source.path)
        elif source.kind is SourceKind.FOLDER:
            self.folder_path_edit.setText(source.path)
        self.pattern_edit.setText(source.pattern)
        self.pick_combo.setCurrentIndex(self.pick_combo.findData(source.pick))
        self.url_edit.setText(source.url)
        self.query_edit.setPlainText(source.query)
        if source.credential:
            self.password_hint.setText("A password is stored in this computer's keyring; "
                                       "leave empty to keep it.")
        self.task_combo.setCurrentIndex(self.task_combo.findData(spec.task))
        self.window_spin.setValue(spec.window_days or 0)
        self.min_sample_spin.setValue(spec.min_sample)
        self.top_k_spin.setValue(spec.top_k)
        self._set_schedule(monitor.schedule)
        self.max_failures_spin.setValue(monitor.max_failures)
        self.timeout_spin.setValue(max(1, math.ceil(monitor.timeout_s / 60)))
        self._fill_thresholds(dict(spec.thresholds))
        for kpi in spec.kpis:
            self.add_kpi_row(kpi.name, kpi.expression, kpi.target, kpi.tolerance, kpi.direction)
        session = self._session
        self._session.work.read(
            "Reading the reference columns",
            lambda control: read_stored_reference_columns(session, monitor),
            on_success=self._on_stored_columns_read, on_failure=self._on_columns_failed,
            context=self)

    def _set_schedule(self, schedule: Schedule) -> None:
        if schedule.kind is ScheduleKind.CRON:
            self.cron_radio.setChecked(True)
            self.cron_edit.setText(schedule.expression)
            return
        self.interval_radio.setChecked(True)
        seconds = int(schedule.expression)
        for index in reversed(range(len(INTERVAL_UNITS))):
            size = INTERVAL_UNITS[index][1]
            if seconds % size == 0:
                self.interval_unit.setCurrentIndex(index)
                self.interval_spin.setValue(seconds // size)
                return
        # Not whole minutes (set from the command line or a test): keep it exact.
        self.interval_unit.addItem("seconds", 1)
        self.interval_unit.setCurrentIndex(self.interval_unit.count() - 1)
        self.interval_spin.setValue(seconds)

    def _fill_thresholds(self, stored: dict[str, Threshold]) -> None:
        keys = list(DEFAULT_THRESHOLDS) + sorted(k for k in stored if k not in DEFAULT_THRESHOLDS)
        self.threshold_table.setRowCount(0)
        for key in keys:
            threshold = stored.get(key) or DEFAULT_THRESHOLDS.get(key)
            if threshold is None:
                continue
            row = self.threshold_table.rowCount()
            self.threshold_table.insertRow(row)
            metric, _ = threshold_subject(key)
            name = QTableWidgetItem(metric_label(metric))
            name.setData(Qt.ItemDataRole.UserRole, key)
            name.setToolTip(key)
            cells = [name, QTableWidgetItem(_applies_to(key)),
                     QTableWidgetItem(_number_text(threshold.warn)),
                     QTableWidgetItem(_number_text(threshold.critical)),
                     QTableWidgetItem("higher" if threshold.higher_is_worse else "lower")]
            for column, item in enumerate(cells):
                if column not in (THRESHOLD_WARN, THRESHOLD_CRITICAL):
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                else:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.threshold_table.setItem(row, column, item)

    def add_kpi_row(self, name: str, expression: str, target: float, tolerance: float,
                    direction: str = HIGHER) -> int:
        table = self.kpi_table
        table.blockSignals(True)
        row = table.rowCount()
        table.insertRow(row)
        for column, text in ((KPI_NAME, name), (KPI_EXPRESSION, expression),
                             (KPI_TARGET, _number_text(target)),
                             (KPI_TOLERANCE, _number_text(tolerance))):
            table.setItem(row, column, QTableWidgetItem(text))
        combo = QComboBox()
        for value, title in DIRECTIONS:
            combo.addItem(title, value)
        combo.setCurrentIndex(max(0, combo.findData(direction)))
        table.setCellWidget(row, KPI_DIRECTION, combo)
        table.blockSignals(False)
        self.check_kpis()
        return row

    def _on_remove_kpi_button_clicked(self) -> None:
        row = self.kpi_table.currentRow()
        if row >= 0:
            self.kpi_table.removeRow(row)
            self.check_kpis()

    # -- reference columns ----------------------------------------------------------------------

    def _on_reference_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Reference data", str(Path.home()),
                                              DATA_FILES)
        if path:
            self.reference_edit.setText(path)
            self.load_reference_columns()

    def _on_reference_edit_editing_finished(self) -> None:
        self.load_reference_columns()

    def load_reference_columns(self) -> None:
        """Read the chosen reference file's columns on a worker thread."""
        text = self.reference_edit.text().strip()
        if self._monitor is not None or not text:
            return
        path = Path(text).expanduser()
        if path == self._columns_path and (self._columns is not None
                                           or self._reference_problem):
            return
        self._columns_generation += 1
        generation = self._columns_generation
        self._columns, self._columns_path, self._reference_problem = None, path, ""
        self.reference_status.setStyleSheet(HINT_STYLE)
        self.reference_status.setText(f"Reading {path.name}…")
        self._session.work.read(
            f"Reading {path.name}", lambda control: read_reference_columns(path),
            on_success=lambda result: self._on_reference_read(generation, *result),
            on_failure=lambda error: self._on_reference_failed(generation, error),
            context=self)

    def _on_reference_read(self, generation: int, columns: list[str], rows: int) -> None:
        if generation != self._columns_generation:
            return
        self.reference_status.setStyleSheet(HINT_STYLE)
        self.reference_status.setText(f"{rows:,} rows, {len(columns)} columns: "
                                      f"{', '.join(columns[:12])}"
                                      f"{', …' if len(columns) > 12 else ''}")
        self._set_columns(columns)

    def _on_reference_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._columns_generation:
            return
        self._reference_problem = str(error)
        self._fill_column_pickers([])
        self.reference_status.setStyleSheet(PROBLEM_STYLE)
        self.reference_status.setText(self._reference_problem)

    def _on_stored_columns_read(self, columns: list[str]) -> None:
        monitor = self._monitor
        self.reference_status.setText(f"{monitor.reference_rows:,} rows, {len(columns)} "
                                      f"columns, stored with the monitor.")
        self._set_columns(columns)

    def _on_columns_failed(self, error: BaseException) -> None:
        self.reference_status.setStyleSheet(PROBLEM_STYLE)
        self.reference_status.setText(f"The stored reference data cannot be read: {error}")

    def columns(self) -> list[str] | None:
        return None if self._columns is None else list(self._columns)

    def _set_columns(self, columns: list[str]) -> None:
        self._columns = list(columns)
        self._fill_column_pickers(columns)
        self.check_kpis()
        self.columns_loaded.emit()

    def _fill_column_pickers(self, columns: list[str]) -> None:
        spec = self._monitor.spec if self._monitor else None
        lowered = {column.lower(): column for column in columns}

        def guess(role: str) -> str:
            if spec is not None:
                return getattr(spec, role)
            return next((lowered[name] for name in ROLE_GUESSES[role] if name in lowered), "")

        pickers = ((self.prediction_combo, "Score with the stored model", "prediction"),
                   (self.score_combo, "None", "score"),
                   (self.label_combo, "None: labels arrive later", "label"),
                   (self.timestamp_combo, "None", "timestamp"))
        for combo, empty, role in pickers:
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(empty, "")
            for column in columns:
                combo.addItem(column, column)
            combo.setCurrentIndex(max(0, combo.findData(guess(role))))
            combo.blockSignals(False)
        roles = {guess(role) for role in ROLE_GUESSES}
        profiled = set(spec.reference_columns()) if spec is not None else None
        self.feature_list.clear()
        for column in columns:
            item = QListWidgetItem(column, self.feature_list)
            if profiled is not None and column not in profiled:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip("Not profiled when the monitor was created; create a new "
                                "monitor to watch this column.")
                item.setCheckState(Qt.CheckState.Unchecked)
                continue
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            chosen = column in spec.features if spec is not None else column not in roles
            item.setCheckState(Qt.CheckState.Checked if chosen else Qt.CheckState.Unchecked)
        self._update_window_enabled()

    def _on_role_combo_changed(self) -> None:
        # A column picked as prediction, label, ... is no feature.
        chosen = {combo.currentData() for combo in (self.prediction_combo, self.score_combo,
                                                    self.label_combo, self.timestamp_combo)}
        for row in range(self.feature_list.count()):
            item = self.feature_list.item(row)
            if item.text() in chosen:
                item.setCheckState(Qt.CheckState.Unchecked)
        self.check_kpis()

    def features(self) -> list[str]:
        return [self.feature_list.item(row).text() for row in range(self.feature_list.count())
                if self.feature_list.item(row).checkState() == Qt.CheckState.Checked]

    def set_features(self, names: list[str]) -> None:
        for row in range(self.feature_list.count()):
            item = self.feature_list.item(row)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names
                               else Qt.CheckState.Unchecked)

    def set_role(self, combo: QComboBox, column: str) -> None:
        combo.setCurrentIndex(max(0, combo.findData(column)))

    # -- keeping the form consistent ------------------------------------------------------------

    def _on_source_kind_current_index_changed(self, index: int) -> None:
        self.source_stack.setCurrentIndex(index)

    def _on_file_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Current data", str(Path.home()),
                                              DATA_FILES)
        if path:
            self.file_path_edit.setText(path)

    def _on_folder_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of current data",
                                                str(Path.home()))
        if path:
            self.folder_path_edit.setText(path)

    def _update_window_enabled(self) -> None:
        has_timestamp = bool(self.timestamp_combo.currentData())
        self.window_spin.setEnabled(has_timestamp)
        if not has_timestamp:
            self.window_spin.setValue(0)

    def _update_schedule_enabled(self) -> None:
        interval = self.interval_radio.isChecked()
        self.interval_spin.setEnabled(interval)
        self.interval_unit.setEnabled(interval)
        self.cron_edit.setEnabled(not interval)

    def _kpi_columns(self) -> list[str] | None:
        if self._columns is None:
            return None
        scored = () if self.prediction_combo.currentData() else SCORED_COLUMNS
        return list(dict.fromkeys([*self._columns, *scored]))

    def _on_kpi_table_item_changed(self, item: QTableWidgetItem) -> None:
        self.check_kpis()

    def check_kpis(self) -> list[KpiDefinition]:
        """Check every KPI row, mark the cells at fault and say what is wrong; the KPIs of the
        rows that are right."""
        columns = self._kpi_columns()
        table = self.kpi_table
        problems: list[str] = []
        kpis: list[KpiDefinition] = []
        table.blockSignals(True)
        for row in range(table.rowCount()):
            bad_column, problem = self._kpi_problem(row, columns)
            for column in (KPI_NAME, KPI_EXPRESSION, KPI_TARGET, KPI_TOLERANCE):
                item = table.item(row, column)
                if item is None:
                    continue
                item.setBackground(QBrush(PROBLEM_BACKGROUND) if column == bad_column
                                   else QBrush())
                item.setToolTip(problem if column == bad_column else "")
            if problem:
                name = self._kpi_text(row, KPI_NAME) or f"row {row + 1}"
                problems.append(f"KPI “{name}”: {problem}")
            else:
                kpis.append(self._kpi_from_row(row))
        table.blockSignals(False)
        self._kpi_problems = problems
        self.kpi_message.setText("\n".join(problems))
        self.kpi_message.setVisible(bool(problems))
        return kpis

    def kpi_problems(self) -> list[str]:
        return list(self._kpi_problems)

    def _kpi_text(self, row: int, column: int) -> str:
        item = self.kpi_table.item(row, column)
        return item.text().strip() if item is not None else ""

    def _kpi_problem(self, row: int, columns: list[str] | None) -> tuple[int, str]:
        """The column at fault and what is wrong, or (-1, "")."""
        if not self._kpi_text(row, KPI_NAME):
            return KPI_NAME, "give it a name, e.g. approval rate."
        try:
            check_expression(self._kpi_text(row, KPI_EXPRESSION), columns)
        except InvalidInputError as error:
            return KPI_EXPRESSION, str(error)
        for column, what in ((KPI_TARGET, "target"), (KPI_TOLERANCE, "tolerance")):
            try:
                value = float(self._kpi_text(row, column))
            except ValueError:
                return column, f"the {what} must be a number."
            if not math.isfinite(value) or (column == KPI_TOLERANCE and value < 0):
                return column, f"the {what} must be a finite number" + (
                    " of 0 or more." if column == KPI_TOLERANCE else ".")
        return -1, ""

    def _kpi_from_row(self, row: int) -> KpiDefinition:
        combo = self.kpi_table.cellWidget(row, KPI_DIRECTION)
        return KpiDefinition(self._kpi_text(row, KPI_NAME), self._kpi_text(row, KPI_EXPRESSION),
                             float(self._kpi_text(row, KPI_TARGET)),
                             float(self._kpi_text(row, KPI_TOLERANCE)), combo.currentData())

    # -- collecting and saving ------------------------------------------------------------------

    def collect(self) -> MonitorForm:
        """Everything the user entered, checked; raises FormProblem naming what to fix."""
        creating = self._monitor is None
        model_name = self.model_combo.currentText().strip()
        if creating and not model_name:
            raise FormProblem("Choose the model to monitor (register it first if it is not "
                              "listed).", self.model_combo)
        name = self.name_edit.text().strip()
        if not name:
            raise FormProblem("Give the monitor a name, e.g. “weekly drift”.", self.name_edit)
        reference = None
        if creating:
            text = self.reference_edit.text().strip()
            if not text:
                raise FormProblem("Choose the reference data: the data the model was "
                                  "validated on.", self.reference_edit)
            reference = Path(text).expanduser()
            if reference != self._columns_path:
                self.load_reference_columns()
            if self._reference_problem:
                raise FormProblem(self._reference_problem, self.reference_edit)
            if self._columns is None:
                raise FormProblem("The reference data's columns are still being read: choose "
                                  "the columns once they are listed.", self.reference_edit)
        source = self._source(model_name, name)
        schedule = self._schedule()
        spec = self._spec(source)
        reason = self.reason_edit.toPlainText().strip()
        if not creating and not reason:
            raise FormProblem("Give a reason for the change: it is kept in the audit log.",
                              self.reason_edit)
        return MonitorForm(model_name, name, reference, spec, schedule,
                           self.max_failures_spin.value(), self.timeout_spin.value() * 60,
                           self.password_edit.text(), reason)

    def _source(self, model_name: str, name: str) -> DataSource:
        # Qt hands enum data back as plain strings.
        kind = SourceKind(self.source_kind.currentData())
        stored = self._monitor.spec.source if self._monitor else None
        credential = ""
        if kind is SourceKind.SQL:
            if self.password_edit.text():
                credential = stored.credential if stored and stored.credential \
                    else f"{model_name}/{name}"
            elif stored is not None:
                credential = stored.credential
        path_edit = self.folder_path_edit if kind is SourceKind.FOLDER else self.file_path_edit
        try:
            return DataSource(
                kind, path=path_edit.text().strip() if kind is not SourceKind.SQL else "",
                pattern=self.pattern_edit.text().strip() or "*.csv",
                pick=FolderPick(self.pick_combo.currentData()), url=self.url_edit.text().strip(),
                query=self.query_edit.toPlainText().strip(), credential=credential)
        except InvalidInputError as error:
            widget = self.url_edit if kind is SourceKind.SQL else path_edit
            raise FormProblem(str(error), widget) from None

    def _schedule(self) -> Schedule:
        if self.interval_radio.isChecked():
            schedule = Schedule(ScheduleKind.INTERVAL, str(
                self.interval_spin.value() * self.interval_unit.currentData()))
            widget: QWidget = self.interval_spin
        else:
            schedule = Schedule(ScheduleKind.CRON, " ".join(self.cron_edit.text().split()))
            widget = self.cron_edit
        try:
            validate_schedule(schedule)
        except InvalidInputError as error:
            raise FormProblem(str(error), widget) from None
        return schedule

    def _thresholds(self) -> dict[str, Threshold]:
        thresholds = {}
        table = self.threshold_table
        for row in range(table.rowCount()):
            key = table.item(row, 0).data(Qt.ItemDataRole.UserRole)
            label = table.item(row, 0).text()
            values = []
            for column in (THRESHOLD_WARN, THRESHOLD_CRITICAL):
                try:
                    values.append(float(table.item(row, column).text()))
                except ValueError:
                    table.setCurrentCell(row, column)
                    raise FormProblem(f"{label} ({_applies_to(key)}): “"
                                      f"{table.item(row, column).text()}” is not a number.",
                                      table) from None
            try:
                thresholds[key] = Threshold(values[0], values[1],
                                            table.item(row, 4).text() == "higher")
            except InvalidInputError as error:
                table.setCurrentCell(row, THRESHOLD_CRITICAL)
                raise FormProblem(f"{label} ({_applies_to(key)}): {error}", table) from None
        return thresholds

    def _spec(self, source: DataSource) -> MonitorSpec:
        features = self.features()
        if not features:
            raise FormProblem("Tick at least one feature column to monitor.", self.feature_list)
        thresholds = self._thresholds()
        kpis = self.check_kpis()
        if self._kpi_problems:
            raise FormProblem("Fix the KPIs marked in red (see the KPIs tab).", self.kpi_table)
        timestamp = self.timestamp_combo.currentData() or ""
        window = self.window_spin.value() if timestamp and self.window_spin.value() > 0 \
            else None
        try:
            return MonitorSpec(
                features=tuple(features), source=source,
                task=Task(self.task_combo.currentData()),
                prediction=self.prediction_combo.currentData() or "",
                score=self.score_combo.currentData() or "",
                label=self.label_combo.currentData() or "", timestamp=timestamp,
                window_days=window, kpis=tuple(kpis), thresholds=thresholds,
                min_sample=self.min_sample_spin.value(), top_k=self.top_k_spin.value(),
                **self._measured_importance())
        except InvalidInputError as error:
            raise FormProblem(str(error), self.feature_list) from None

    def _measured_importance(self) -> dict:
        """An edit keeps the importance measured for the monitor (a new one measures it)."""
        if self._monitor is None:
            return {}
        spec = self._monitor.spec
        return {"importance": spec.importance, "importance_method": spec.importance_method,
                "importance_version": spec.importance_version}

    def reject(self) -> None:
        if not self._saving:  # Escape while saving would hide whether the monitor was stored
            super().reject()

    def _on_buttons_accepted(self) -> None:
        if self._saving:
            return
        try:
            form = self.collect()
        except FormProblem as problem:
            self.show_problem(str(problem), problem.widget)
            return
        self.message_label.hide()
        self._save(form)

    def show_problem(self, text: str, widget: QWidget | None) -> None:
        self.message_label.setText(text)
        self.message_label.show()
        if widget is not None:
            for index in range(self.tabs.count()):
                if self.tabs.widget(index).isAncestorOf(widget):
                    self.tabs.setCurrentIndex(index)
                    break
            widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def _save(self, form: MonitorForm) -> None:
        service = self._session.workspace.monitoring
        monitor = self._monitor
        store_password = form.password and form.spec.source.kind is SourceKind.SQL

        def create(control):
            if store_password:
                from modelledger.services.data.sources import store_source_password

                store_source_password(form.spec.source.credential, form.password)
            return service.create_monitor(
                form.model_name, form.name, form.reference, form.spec, form.schedule,
                max_failures=form.max_failures, timeout_s=form.timeout_s)

        def update(control):
            if store_password:
                from modelledger.services.data.sources import store_source_password

                store_source_password(form.spec.source.credential, form.password)
            changed_timeout = form.timeout_s != math.ceil(monitor.timeout_s / 60) * 60
            return service.update_monitor(
                monitor.id, monitor.row_version, spec=form.spec, schedule=form.schedule,
                max_failures=form.max_failures,
                timeout_s=form.timeout_s if changed_timeout else None, reason=form.reason)

        if monitor is None:
            self._set_busy(f"Reading and profiling {form.reference.name}…")
            self._session.work.write(f"Creating monitor {form.name}", create,
                                     on_success=self._on_created, on_failure=self._on_save_failed,
                                     context=self)
        else:
            self._set_busy("Saving the changes…")
            self._session.work.write(f"Saving monitor {form.name}", update,
                                     on_success=self._on_updated,
                                     on_failure=self._on_save_failed, context=self)

    def _set_busy(self, text: str | None) -> None:
        self._saving = text is not None
        self.busy_bar.setVisible(self._saving)
        self.busy_label.setVisible(self._saving)
        self.busy_label.setText(text or "")
        self.tabs.setEnabled(not self._saving)
        self.reason_box.setEnabled(not self._saving)
        # The reference is being stored: the write finishes either way, so no Cancel either.
        self.buttons.setEnabled(not self._saving)

    def _on_created(self, monitor: Monitor) -> None:
        self._set_busy(None)
        self.saved.emit(f"Created the monitor {monitor.model_name} / {monitor.name} "
                        f"({monitor.schedule.describe()}).", monitor.id)
        self.accept()

    def _on_updated(self, monitor: Monitor) -> None:
        self._set_busy(None)
        self.saved.emit(f"Saved the changes to {monitor.model_name} / {monitor.name}.",
                        monitor.id)
        self.accept()

    def _on_save_failed(self, error: BaseException) -> None:
        self._set_busy(None)
        show_error(self, error)
