"""The recipe form: what trains the model's next version, and the gate it must pass."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import DataSource, Schedule, ScheduleKind, SourceKind, Task
from modelledger.core.promotion_gate import GateRule
from modelledger.core.recipes import (
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_TIME_LIMIT_S,
    ESTIMATORS,
    Recipe,
    RecipeKind,
    RetrainPolicy,
    SplitKind,
    SplitRule,
)
from modelledger.core.training import StoredRecipe
from modelledger.services.scheduling.schedules import validate_schedule
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.widgets.dialogs import PROBLEM_STYLE, hint_label

CLASSIFICATION_METRICS = ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
CUSTOM_CRON = "custom"
SCHEDULE_CHOICES = (("Never", None), ("Every day at 03:00 UTC", "0 3 * * *"),
                    ("Every Monday at 03:00 UTC", "0 3 * * 1"),
                    ("First of the month at 03:00 UTC", "0 3 1 * *"), ("Cron…", CUSTOM_CRON))
PENDING_CODE_HASH = "0" * 64  # stands for a code file chosen in the form, until it is stored


class RecipeDialog(QDialog):
    """Edits a copy of the model's recipe; ``recipe()``, ``gate()``, ``code_file()`` and
    ``reason()`` give what to store once accepted."""

    columns_loaded = Signal()

    def __init__(self, session: WorkspaceSession, model_name: str,
                 current: StoredRecipe | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recipeDialog")
        self.setWindowTitle(f"Training recipe of {model_name}")
        self.setMinimumWidth(640)
        self._session = session
        self._current = current
        self._columns: list[str] = []
        # The stored recipe's slice column, chosen again once the data's columns are read.
        self._slice_to_restore = current.recipe.slice_column if current else ""
        self._build()
        if current is not None:
            self._fill(current)
        else:
            self._on_task_changed()
        self._validate()
        monitoring = session.workspace.monitoring
        session.work.read(f"Reading the monitors of {model_name}",
                          lambda control: [m.name for m in monitoring.list_monitors(
                              model_name=model_name)],
                          on_success=self._on_monitors_loaded, context=self)

    # -- building ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.pipeline_radio = QRadioButton("&Scikit-learn pipeline")
        self.code_radio = QRadioButton("Python &file with train(frame, params)")
        self.pipeline_radio.setChecked(True)
        kinds = QButtonGroup(self)
        kinds.addButton(self.pipeline_radio)
        kinds.addButton(self.code_radio)
        kinds.buttonToggled.connect(lambda *_: self._on_kind_changed())
        kind_row = QHBoxLayout()
        kind_row.addWidget(self.pipeline_radio)
        kind_row.addWidget(self.code_radio)
        kind_row.addStretch(1)

        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("training data: a .csv, .parquet or .xlsx file")
        self.data_edit.editingFinished.connect(self._load_columns)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_data)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_edit, 1)
        data_row.addWidget(browse)

        self.task_combo = QComboBox()
        for task in Task:
            self.task_combo.addItem(task.value.capitalize(), task)
        self.task_combo.currentIndexChanged.connect(self._on_task_changed)
        self.target_combo = QComboBox()
        self.target_combo.currentTextChanged.connect(self._on_target_changed)
        self.features_list = QListWidget()
        self.features_list.setObjectName("featuresList")
        self.features_list.setFixedHeight(120)
        self.features_list.itemChanged.connect(lambda *_: self._validate())
        all_button = QPushButton("All")
        all_button.clicked.connect(lambda: self._check_all(True))
        none_button = QPushButton("None")
        none_button.clicked.connect(lambda: self._check_all(False))
        feature_buttons = QVBoxLayout()
        feature_buttons.addWidget(all_button)
        feature_buttons.addWidget(none_button)
        feature_buttons.addStretch(1)
        features_row = QHBoxLayout()
        features_row.addWidget(self.features_list, 1)
        features_row.addLayout(feature_buttons)

        self.estimator_combo = QComboBox()
        self.hyperparameters_edit = QLineEdit()
        self.hyperparameters_edit.setPlaceholderText('e.g. {"max_iter": 500, "C": 0.5}')
        self.hyperparameters_edit.textChanged.connect(lambda *_: self._validate())
        self.class_weight_combo = QComboBox()
        self.class_weight_combo.addItem("None", None)
        self.class_weight_combo.addItem("Balanced", "balanced")
        self.code_edit = QLineEdit()
        self.code_edit.setPlaceholderText("train.py")
        self.code_edit.textChanged.connect(lambda *_: self._validate())
        code_browse = QPushButton("Browse…")
        code_browse.clicked.connect(self._browse_code)
        self.parameters_edit = QLineEdit()
        self.parameters_edit.setPlaceholderText('params passed to train(), e.g. {"trees": 200}')
        self.parameters_edit.textChanged.connect(lambda *_: self._validate())
        pipeline_page = QWidget()
        pipeline_form = QFormLayout(pipeline_page)
        pipeline_form.setContentsMargins(0, 0, 0, 0)
        pipeline_form.addRow("&Estimator", self.estimator_combo)
        pipeline_form.addRow("&Hyper-parameters", self.hyperparameters_edit)
        pipeline_form.addRow("Class &weights", self.class_weight_combo)
        pipeline_form.addRow("", hint_label("Numeric columns are imputed with the median and "
                                            "scaled; text columns imputed and one-hot encoded."))
        code_page = QWidget()
        code_form = QFormLayout(code_page)
        code_form.setContentsMargins(0, 0, 0, 0)
        code_row = QHBoxLayout()
        code_row.addWidget(self.code_edit, 1)
        code_row.addWidget(code_browse)
        code_form.addRow("&Code file", code_row)
        code_form.addRow("&Parameters", self.parameters_edit)
        code_form.addRow("", hint_label("The file is stored by its SHA-256 and runs only after "
                                        "someone trusts it, in a worker process."))
        self.model_pages = QStackedWidget()
        self.model_pages.addWidget(pipeline_page)
        self.model_pages.addWidget(code_page)

        self.split_combo = QComboBox()
        self.split_combo.addItem("Random share of rows", SplitKind.RANDOM)
        self.split_combo.addItem("From a date on", SplitKind.TIME)
        self.split_combo.addItem("A fixed holdout file", SplitKind.HOLDOUT_FILE)
        self.split_combo.currentIndexChanged.connect(self._on_split_changed)
        self.share_spin = QSpinBox()
        self.share_spin.setRange(5, 50)
        self.share_spin.setSuffix(" % holdout")
        self.share_spin.setValue(20)
        self.time_combo = QComboBox()
        self.cutoff_edit = QDateEdit(calendarPopup=True)
        self.cutoff_edit.setDisplayFormat("yyyy-MM-dd")
        self.cutoff_edit.setDate(QDate.currentDate().addMonths(-1))
        self.holdout_edit = QLineEdit()
        self.holdout_edit.setPlaceholderText("holdout.csv")
        self.holdout_edit.textChanged.connect(lambda *_: self._validate())
        self.split_pages = QStackedWidget()
        for widgets in ((self.share_spin,), (self.time_combo, QLabel("from"), self.cutoff_edit),
                        (self.holdout_edit,)):
            page = QWidget()
            row = QHBoxLayout(page)
            row.setContentsMargins(0, 0, 0, 0)
            for widget in widgets:
                row.addWidget(widget)
            row.addStretch(1)
            self.split_pages.addWidget(page)
        split_row = QHBoxLayout()
        split_row.addWidget(self.split_combo)
        split_row.addWidget(self.split_pages, 1)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.monitor_combo = QComboBox()
        self.monitor_combo.addItem("The holdout only", "")
        self.monitor_combo.setToolTip("Also compare the challenger with the champion on the "
                                      "labelled rows of this monitor's latest window")
        self.slice_combo = QComboBox()
        self.slice_combo.setToolTip("Also compare the challenger with the champion per value "
                                    "(or quartile) of this column")

        form = QFormLayout()
        form.addRow("Kind", kind_row)
        form.addRow("&Data", data_row)
        form.addRow("&Task", self.task_combo)
        form.addRow("Tar&get", self.target_combo)
        form.addRow("F&eatures", features_row)
        form.addRow(self.model_pages)
        form.addRow("&Holdout", split_row)
        form.addRow("See&d", self.seed_spin)
        form.addRow("Compare per &slice of", self.slice_combo)
        form.addRow("Compare &on", self.monitor_combo)

        self.gate_box = QGroupBox("Promotion &gate: ask for promotion only when the challenger "
                                  "beats the champion")
        self.gate_box.setCheckable(True)
        self.gate_box.setChecked(True)
        self.primary_combo = QComboBox()
        self.min_improvement_spin = QDoubleSpinBox()
        self.min_improvement_spin.setDecimals(4)
        self.min_improvement_spin.setRange(0, 1000)
        self.min_improvement_spin.setSingleStep(0.005)
        self.min_improvement_spin.setValue(0.005)
        self.relative_spin = QDoubleSpinBox()
        self.relative_spin.setRange(0, 100)
        self.relative_spin.setSuffix(" %")
        self.significance_check = QCheckBox("the improvement's 95% interval must exclude zero")
        self.significance_check.setChecked(True)
        self.non_inferiority_edit = QLineEdit()
        self.non_inferiority_edit.setPlaceholderText("e.g. recall=0.01, accuracy=0.02")
        self.non_inferiority_edit.textChanged.connect(lambda *_: self._validate())
        self.min_rows_spin = QSpinBox()
        self.min_rows_spin.setRange(1, 10**9)
        self.min_rows_spin.setValue(100)
        self.missing_spin = QSpinBox()
        self.missing_spin.setRange(0, 100)
        self.missing_spin.setSuffix(" %")
        self.missing_spin.setValue(20)
        gate_form = QFormLayout(self.gate_box)
        improvement_row = QHBoxLayout()
        improvement_row.addWidget(self.primary_combo)
        improvement_row.addWidget(QLabel("better by at least"))
        improvement_row.addWidget(self.min_improvement_spin)
        improvement_row.addWidget(QLabel("and"))
        improvement_row.addWidget(self.relative_spin)
        improvement_row.addStretch(1)
        gate_form.addRow("Primary metric", improvement_row)
        gate_form.addRow("", self.significance_check)
        gate_form.addRow("Not worse by more than", self.non_inferiority_edit)
        data_checks = QHBoxLayout()
        data_checks.addWidget(QLabel("at least"))
        data_checks.addWidget(self.min_rows_spin)
        data_checks.addWidget(QLabel("rows; no feature more than"))
        data_checks.addWidget(self.missing_spin)
        data_checks.addWidget(QLabel("missing"))
        data_checks.addStretch(1)
        gate_form.addRow("Training data", data_checks)

        self.triggers_box = QGroupBox("&Retrain by itself")
        self.schedule_combo = QComboBox()
        for label, expression in SCHEDULE_CHOICES:
            self.schedule_combo.addItem(label, expression)
        self.schedule_combo.currentIndexChanged.connect(self._on_schedule_changed)
        self.cron_edit = QLineEdit()
        self.cron_edit.setPlaceholderText("minute hour day month weekday, e.g. 0 3 * * 1")
        self.cron_edit.textChanged.connect(lambda *_: self._validate())
        self.incident_check = QCheckBox("when a critical drift or performance incident opens")
        self.cooldown_spin = QSpinBox()
        self.cooldown_spin.setRange(0, 24 * 90)
        self.cooldown_spin.setSuffix(" h apart")
        self.cooldown_spin.setValue(24)
        self.max_spin = QSpinBox()
        self.max_spin.setRange(1, 100)
        self.max_spin.setValue(3)
        self.period_spin = QSpinBox()
        self.period_spin.setRange(1, 365)
        self.period_spin.setSuffix(" days")
        self.period_spin.setValue(7)
        self.incident_check.toggled.connect(self._on_incident_toggled)
        schedule_row = QHBoxLayout()
        schedule_row.addWidget(self.schedule_combo)
        schedule_row.addWidget(self.cron_edit, 1)
        limits_row = QHBoxLayout()
        limits_row.addWidget(QLabel("at least"))
        limits_row.addWidget(self.cooldown_spin)
        limits_row.addWidget(QLabel(", at most"))
        limits_row.addWidget(self.max_spin)
        limits_row.addWidget(QLabel("in"))
        limits_row.addWidget(self.period_spin)
        limits_row.addStretch(1)
        triggers_form = QFormLayout(self.triggers_box)
        triggers_form.addRow("On a schedule", schedule_row)
        triggers_form.addRow("On incidents", self.incident_check)
        triggers_form.addRow("", limits_row)
        self.cron_edit.hide()
        self._on_incident_toggled(False)

        self.reason_edit = QPlainTextEdit()
        self.reason_edit.setPlaceholderText("Why the recipe changes (recorded in the audit "
                                            "timeline)")
        self.reason_edit.setTabChangesFocus(True)
        self.reason_edit.setFixedHeight(56)
        self.reason_edit.textChanged.connect(self._validate)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("recipeProblem")
        self.problem_label.setStyleSheet(PROBLEM_STYLE)
        self.problem_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save recipe")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint_label("A folder of files or a SQL query as the data: write the "
                                    "recipe as TOML and use `modelledger recipe set`."))
        layout.addWidget(self.gate_box)
        layout.addWidget(self.triggers_box)
        layout.addWidget(self.reason_edit)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)

    # -- filling ----------------------------------------------------------------------------------

    def _fill(self, stored: StoredRecipe) -> None:
        recipe = stored.recipe
        (self.code_radio if recipe.kind is RecipeKind.CODE else self.pipeline_radio
         ).setChecked(True)
        self.task_combo.setCurrentIndex(self.task_combo.findData(recipe.task.value))
        self._on_task_changed()
        if recipe.source.kind is not SourceKind.SQL:
            self.data_edit.setText(recipe.source.path)
        self._columns = [*recipe.features, recipe.target]
        self._show_columns(self._columns, recipe.target, set(recipe.features),
                           recipe.split.time_column)
        self.estimator_combo.setCurrentText(recipe.estimator or self.estimator_combo.itemText(0))
        if recipe.hyperparameters:
            self.hyperparameters_edit.setText(json.dumps(dict(recipe.hyperparameters)))
        if recipe.class_weight == "balanced":
            self.class_weight_combo.setCurrentIndex(1)
        self.code_edit.setText(recipe.code_filename)
        if recipe.parameters:
            self.parameters_edit.setText(json.dumps(dict(recipe.parameters)))
        self.split_combo.setCurrentIndex(self.split_combo.findData(recipe.split.kind.value))
        self.share_spin.setValue(round(recipe.split.holdout_share * 100))
        if recipe.split.cutoff:
            self.cutoff_edit.setDate(QDate.fromString(recipe.split.cutoff[:10], "yyyy-MM-dd"))
        self.holdout_edit.setText(recipe.split.holdout_path)
        self.seed_spin.setValue(recipe.seed)
        gate = stored.gate
        self.gate_box.setChecked(gate is not None)
        if gate is not None:
            self.primary_combo.setCurrentText(gate.primary_metric)
            self.min_improvement_spin.setValue(gate.min_absolute_improvement)
            self.relative_spin.setValue(gate.min_relative_improvement * 100)
            self.significance_check.setChecked(gate.require_significance)
            self.non_inferiority_edit.setText(", ".join(
                f"{metric}={margin:g}" for metric, margin in gate.non_inferiority.items()))
            self.min_rows_spin.setValue(gate.min_training_rows)
            self.missing_spin.setValue(round(gate.max_missing_share * 100))
        if stored.schedule is not None:
            known = self.schedule_combo.findData(stored.schedule.expression)
            if stored.schedule.kind is ScheduleKind.CRON and known < 0:
                self.schedule_combo.setCurrentIndex(self.schedule_combo.findData(CUSTOM_CRON))
                self.cron_edit.setText(stored.schedule.expression)
            else:
                self.schedule_combo.setCurrentIndex(max(known, 0))
        policy = stored.policy
        self.incident_check.setChecked(policy.on_incident)
        self.cooldown_spin.setValue(round(policy.cooldown_hours))
        self.max_spin.setValue(policy.max_per_period)
        self.period_spin.setValue(round(policy.period_days))
        self._load_columns()

    def _on_monitors_loaded(self, names: list[str]) -> None:
        chosen = self._current.recipe.evaluate_on_monitor if self._current else ""
        for name in names:
            self.monitor_combo.addItem(f"The holdout and the recent rows of {name}", name)
        self.monitor_combo.setCurrentIndex(max(self.monitor_combo.findData(chosen), 0))

    def _on_schedule_changed(self) -> None:
        self.cron_edit.setVisible(self.schedule_combo.currentData() == CUSTOM_CRON)
        self._validate()

    def _on_incident_toggled(self, on: bool) -> None:
        for spin in (self.cooldown_spin, self.max_spin, self.period_spin):
            spin.setEnabled(on)

    def _on_kind_changed(self) -> None:
        self.model_pages.setCurrentIndex(1 if self.code_radio.isChecked() else 0)
        self._validate()

    def _on_task_changed(self) -> None:
        task = Task(self.task_combo.currentData())
        self.estimator_combo.clear()
        self.estimator_combo.addItems([name for name, (_, solves) in ESTIMATORS.items()
                                       if solves is task])
        self.class_weight_combo.setEnabled(task is Task.CLASSIFICATION)
        self.primary_combo.clear()
        self.primary_combo.addItems(CLASSIFICATION_METRICS if task is Task.CLASSIFICATION
                                    else REGRESSION_METRICS)
        self._validate()

    def _on_split_changed(self) -> None:
        self.split_pages.setCurrentIndex(self.split_combo.currentIndex())
        self._validate()

    def _browse_data(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Training data", self.data_edit.text(),
                                              "Data files (*.csv *.parquet *.xlsx)")
        if path:
            self.data_edit.setText(path)
            self._load_columns()

    def _browse_code(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Code recipe", "", "Python files (*.py)")
        if path:
            self.code_edit.setText(path)

    def _load_columns(self) -> None:
        text = self.data_edit.text().strip()
        if not text:
            return
        from modelledger.services.data.sources import table_columns

        path = Path(text).expanduser()
        self._session.work.read(f"Reading the columns of {path.name}",
                                lambda control: table_columns(path),
                                on_success=self._on_columns_loaded,
                                on_failure=self._on_columns_failed, context=self)

    def _on_columns_loaded(self, columns: list[str]) -> None:
        checked = set(self.features()) if self.features_list.count() else None
        target = self.target_combo.currentText() or (columns[-1] if columns else "")
        time_column = self.time_combo.currentText()
        self._columns = columns
        self._show_columns(columns, target, checked, time_column)
        self._validate()
        self.columns_loaded.emit()

    def _on_columns_failed(self, error: BaseException) -> None:
        self.problem_label.setText(str(error))
        self.columns_loaded.emit()

    def _show_columns(self, columns: list[str], target: str, checked: set[str] | None,
                      time_column: str) -> None:
        chosen_slice = self.slice_combo.currentData() or self._slice_to_restore
        self.slice_combo.clear()
        self.slice_combo.addItem("No slices", "")
        for column in columns:
            self.slice_combo.addItem(column, column)
        self.slice_combo.setCurrentIndex(max(self.slice_combo.findData(chosen_slice), 0))
        for combo, chosen in ((self.target_combo, target), (self.time_combo, time_column)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(columns)
            if chosen in columns:
                combo.setCurrentText(chosen)
            combo.blockSignals(False)
        self.features_list.blockSignals(True)
        self.features_list.clear()
        for column in columns:
            item = QListWidgetItem(column)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = column != target and (checked is None or column in checked)
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            item.setHidden(column == target)
            self.features_list.addItem(item)
        self.features_list.blockSignals(False)

    def _on_target_changed(self, target: str) -> None:
        self._show_columns(self._columns, target, set(self.features()),
                           self.time_combo.currentText())
        self._validate()

    def _check_all(self, on: bool) -> None:
        for row in range(self.features_list.count()):
            item = self.features_list.item(row)
            if not item.isHidden():
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    # -- results ----------------------------------------------------------------------------------

    def features(self) -> list[str]:
        return [self.features_list.item(row).text() for row in range(self.features_list.count())
                if self.features_list.item(row).checkState() is Qt.CheckState.Checked
                and not self.features_list.item(row).isHidden()]

    def recipe(self) -> Recipe:
        """The recipe the form describes; raises InvalidInputError naming what is wrong."""
        split_kind = SplitKind(self.split_combo.currentData())
        timed = split_kind is SplitKind.TIME
        kept = self._current.recipe if self._current is not None else None
        common = {
            "source": DataSource(SourceKind.FILE, self.data_edit.text().strip()),
            "target": self.target_combo.currentText(), "features": tuple(self.features()),
            "task": Task(self.task_combo.currentData()), "seed": self.seed_spin.value(),
            "split": SplitRule(split_kind, self.share_spin.value() / 100,
                               self.time_combo.currentText() if timed else "",
                               self.cutoff_edit.date().toString("yyyy-MM-dd") if timed else "",
                               self.holdout_edit.text().strip()),
            "slice_column": self.slice_combo.currentData() or "",
            "evaluate_on_monitor": self.monitor_combo.currentData() or "",
            "time_limit_s": kept.time_limit_s if kept else DEFAULT_TIME_LIMIT_S,
            "memory_limit_mb": kept.memory_limit_mb if kept else DEFAULT_MEMORY_LIMIT_MB,
        }
        if not self.code_radio.isChecked():
            return Recipe(RecipeKind.DECLARATIVE, estimator=self.estimator_combo.currentText(),
                          hyperparameters=_json_object(self.hyperparameters_edit.text(),
                                                       "The hyper-parameters"),
                          class_weight=self.class_weight_combo.currentData(), **common)
        keeps_file = kept is not None and kept.kind is RecipeKind.CODE and self.code_file() is None
        return Recipe(RecipeKind.CODE,
                      # A newly chosen file is stored on save and its SHA-256 replaces this.
                      code_sha256=kept.code_sha256 if keeps_file else PENDING_CODE_HASH,
                      code_filename=kept.code_filename if keeps_file else "",
                      parameters=_json_object(self.parameters_edit.text(), "The parameters"),
                      **common)

    def code_file(self) -> Path | None:
        """A newly chosen code file (None: keep the stored one, or a pipeline recipe)."""
        if not self.code_radio.isChecked():
            return None
        text = self.code_edit.text().strip()
        kept = self._current.recipe.code_filename if self._current else ""
        return Path(text).expanduser() if text and text != kept else None

    def gate(self) -> GateRule | None:
        if not self.gate_box.isChecked():
            return None
        margins: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in self.non_inferiority_edit.text().split(","))):
            metric, _, margin = part.partition("=")
            try:
                margins[metric.strip()] = float(margin)
            except ValueError:
                raise InvalidInputError(f"Write each non-inferiority margin as metric=number, "
                                        f"e.g. recall=0.01 (not {part!r}).") from None
        return GateRule(self.primary_combo.currentText(), self.min_improvement_spin.value(),
                        self.relative_spin.value() / 100, self.significance_check.isChecked(),
                        margins, self.missing_spin.value() / 100, self.min_rows_spin.value())

    def schedule(self) -> Schedule | None:
        choice = self.schedule_combo.currentData()
        if choice is None:
            return None
        expression = self.cron_edit.text().strip() if choice == CUSTOM_CRON else choice
        schedule = Schedule(ScheduleKind.CRON, expression)
        validate_schedule(schedule)
        return schedule

    def policy(self) -> RetrainPolicy:
        return RetrainPolicy(self.incident_check.isChecked(), self.cooldown_spin.value(),
                             self.max_spin.value(), self.period_spin.value())

    def reason(self) -> str:
        return self.reason_edit.toPlainText().strip()

    def _validate(self) -> None:
        problem = ""
        try:
            if not self.data_edit.text().strip():
                raise InvalidInputError("Choose the training data file.")
            if self.code_radio.isChecked() and not self.code_edit.text().strip():
                raise InvalidInputError("Choose the Python file with train(frame, params).")
            self.recipe()
            self.gate()
            self.schedule()
            if not self.reason():
                problem = " "  # nothing wrong yet; Save waits for the reason
        except InvalidInputError as error:
            problem = str(error)
        self.problem_label.setText(problem.strip())
        self.save_button.setEnabled(not problem)


def _json_object(text: str, what: str) -> dict:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} must be JSON, e.g. {{\"max_iter\": 500}}: {exc.msg}."
                                ) from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"{what} must be a JSON object of name: value.")
    return value

