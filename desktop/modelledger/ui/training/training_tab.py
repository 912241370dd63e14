"""A model's Training tab: its recipe, "Train now" with progress and cancel, the run history,
and for the selected run the champion-vs-challenger chart, its table and the gate's checks."""

from __future__ import annotations

import html
import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.monitoring import RunStatus
from modelledger.core.recipes import RecipeKind
from modelledger.core.training import StoredRecipe, TrainingRun
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.base.tasks import Task
from modelledger.ui.training.comparison_chart import ComparisonChart
from modelledger.ui.training.recipe_dialog import RecipeDialog
from modelledger.ui.widgets.dialogs import ReasonDialog, hint_label
from modelledger.ui.widgets.table_models import Column, RecordListModel, record_table

RUN_COLUMNS = (
    Column("Run", lambda r: f"#{r.id}"),
    Column("Finished", lambda r: f"{r.finished_at.astimezone():%Y-%m-%d %H:%M}"),
    Column("Trigger", lambda r: r.trigger.value),
    Column("Recipe", lambda r: f"r{r.recipe_version}"),
    Column("Status", lambda r: r.status.value,
           foreground=lambda r: None if r.status is RunStatus.SUCCEEDED else "#b00020"),
    Column("Version", lambda r: f"v{r.version_number}" if r.version_number else "—"),
    Column("Gate", lambda r: "—" if r.gate is None else "passed" if r.gate.passed else "failed",
           foreground=lambda r: None if r.gate is None else
           "#2a8f6a" if r.gate.passed else "#b00020"),
    Column("Cause", lambda r: r.cause, tooltip=lambda r: r.outcome_text),
)


class TrainingTab(QWidget):
    loaded = Signal()  # the recipe and the runs arrived
    training_finished = Signal(object)  # the recorded TrainingRun
    reproduced = Signal(object)  # core.training.Reproduction
    open_request = Signal(int)  # the promotion request a passed gate opened

    def __init__(self, session: WorkspaceSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._training = session.workspace.training
        self.model_name: str | None = None
        self.recipe: StoredRecipe | None = None
        self._task: Task | None = None
        self._build()
        session.changed.connect(self.reload)
        session.standing_changed.connect(self._update_actions)

    def _build(self) -> None:
        self.recipe_label = QLabel()
        self.recipe_label.setObjectName("recipeSummary")
        self.recipe_label.setTextFormat(Qt.TextFormat.RichText)
        self.gate_summary = QLabel()
        self.gate_summary.setObjectName("gateSummary")
        summary = QVBoxLayout()
        summary.setSpacing(2)
        summary.addWidget(self.recipe_label)
        summary.addWidget(self.gate_summary)
        self.edit_button = QPushButton("Edit recipe…")
        self.edit_button.clicked.connect(self.edit_recipe)
        self.trust_button = QPushButton("Trust code…")
        self.trust_button.clicked.connect(self.trust_code)
        self.train_button = QPushButton("Train now")
        self.train_button.setToolTip("Train the next version from the recipe (Ctrl+Shift+T)")
        self.train_button.clicked.connect(self.train_now)
        QShortcut(QKeySequence("Ctrl+Shift+T"), self, self.train_now)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_training)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.progress_label = QLabel()
        self.progress_label.setObjectName("trainingProgress")
        top = QHBoxLayout()
        top.addLayout(summary, 1)
        for button in (self.edit_button, self.trust_button, self.train_button,
                       self.cancel_button):
            top.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label, 2)

        self.runs_model = RecordListModel(RUN_COLUMNS, parent=self)
        self.runs_table = record_table(self.runs_model,
                                       resize_mode=QHeaderView.ResizeMode.ResizeToContents)
        self.runs_table.setObjectName("trainingRuns")
        self.runs_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_table.selectionModel().selectionChanged.connect(self._show_selected_run)
        self.empty_label = hint_label("No training run yet. Write a recipe, then Train now: "
                                      "each run registers a challenger and, with a gate, "
                                      "compares it with the champion on the same rows.")

        self.run_title = QLabel()
        self.run_title.setObjectName("runTitle")
        self.run_title.setWordWrap(True)
        self.request_button = QPushButton("Open the promotion request")
        self.request_button.hide()
        self.request_button.clicked.connect(self._open_request)
        self.reproduce_button = QPushButton("Reproduce…")
        self.reproduce_button.setToolTip("Re-run this version's recipe on its recorded data and "
                                         "check that the same model comes out")
        self.reproduce_button.hide()
        self.reproduce_button.clicked.connect(self.reproduce_selected)
        self.chart = ComparisonChart()
        self.chart.setMinimumHeight(200)
        self.differences_table = QTableWidget(0, 5)
        self.differences_table.setObjectName("differencesTable")
        self.differences_table.setHorizontalHeaderLabels(
            ["Metric", "Champion", "Challenger", "Improvement", "95% interval"])
        self.differences_table.verticalHeader().setVisible(False)
        self.differences_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.differences_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.differences_table.horizontalHeader().setStretchLastSection(False)
        self.test_label = QLabel()
        self.test_label.setWordWrap(True)
        self.gate_label = QLabel()
        self.gate_label.setObjectName("gateChecks")
        self.gate_label.setWordWrap(True)
        self.gate_label.setTextFormat(Qt.TextFormat.RichText)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setObjectName("trainingLog")
        evidence = QWidget()
        evidence_layout = QHBoxLayout(evidence)
        figures = QVBoxLayout()
        figures.addWidget(self.test_label)
        figures.addWidget(self.differences_table, 1)
        evidence_layout.addLayout(figures, 1)
        evidence_layout.addWidget(self.chart, 1)
        gate = QScrollArea()
        gate.setWidgetResizable(True)
        gate.setWidget(self.gate_label)
        self.gate_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.gate_label.setMargin(8)
        self.detail_tabs = QTabWidget()
        self.detail_tabs.addTab(evidence, "Champion vs challenger")
        self.detail_tabs.addTab(gate, "Gate")
        self.detail_tabs.addTab(self.log_view, "Log")
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        title_row = QHBoxLayout()
        title_row.addWidget(self.run_title, 1)
        title_row.addWidget(self.reproduce_button)
        title_row.addWidget(self.request_button)
        detail_layout.addLayout(title_row)
        detail_layout.addWidget(self.detail_tabs, 1)

        runs = QWidget()
        runs_layout = QVBoxLayout(runs)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addWidget(self.runs_table, 1)
        runs_layout.addWidget(self.empty_label)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(runs)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(progress_row)
        layout.addWidget(splitter, 1)
        self._show_run(None)

    # -- loading ----------------------------------------------------------------------------------

    def show_model(self, name: str) -> None:
        if name != self.model_name:
            self.model_name = name
            self.recipe = None
            self.runs_model.set_rows([])
            self._show_run(None)
        self.reload()

    def reload(self) -> None:
        name = self.model_name
        if name is None:
            return
        training = self._training
        self._session.work.read(
            f"Loading the training runs of {name}",
            lambda control: (training.current_recipe(name), training.list_runs(name)),
            on_success=lambda result: self._on_loaded(name, *result), context=self)

    def _on_loaded(self, name: str, recipe: StoredRecipe | None,
                   runs: list[TrainingRun]) -> None:
        if name != self.model_name:
            return
        self.recipe = recipe
        selected = self.selected_run()
        self.runs_model.set_rows(runs)
        self.empty_label.setVisible(not runs)
        self._describe_recipe()
        self._update_actions()
        keep = next((row for row, run in enumerate(runs)
                     if selected is not None and run.id == selected.id), 0 if runs else None)
        if keep is not None:
            self.runs_table.selectRow(keep)
        self.loaded.emit()

    def _describe_recipe(self) -> None:
        recipe = self.recipe
        if recipe is None:
            self.recipe_label.setText("<b>No training recipe.</b>")
            self.gate_summary.setText("Edit recipe… says what trains this model: data, target, "
                                      "features, estimator, holdout and the promotion gate.")
            return
        self.recipe_label.setText(f"<b>Recipe r{recipe.recipe_version}</b>: "
                                  f"{html.escape(recipe.recipe.describe())}")
        gate = recipe.gate
        if gate is None:
            text = "No gate: challengers are registered, never proposed for promotion."
        else:
            text = (f"Gate: {gate.primary_metric} better by at least "
                    f"{gate.min_absolute_improvement:g}"
                    + (", more than chance" if gate.require_significance else "")
                    + (", not worse on " + ", ".join(gate.non_inferiority)
                       if gate.non_inferiority else ""))
        triggers = []
        if recipe.schedule is not None:
            triggers.append(recipe.schedule.describe())
        if recipe.policy.on_incident:
            triggers.append(f"on critical incidents (≤ {recipe.policy.max_per_period} per "
                            f"{recipe.policy.period_days:g} days)")
        text += ". Retrains " + (" and ".join(triggers) if triggers else "only when asked")
        self.gate_summary.setText(text + ".")

    def _update_actions(self, *_: object) -> None:
        refusal = self._session.refusal
        training = self._task is not None
        has_recipe = self.recipe is not None
        edit_refusal = refusal("recipe.saved")
        self.edit_button.setEnabled(not training and edit_refusal is None)
        self.edit_button.setToolTip(edit_refusal or "Change what trains this model")
        code = has_recipe and self.recipe.recipe.kind is RecipeKind.CODE
        self.trust_button.setVisible(code)
        train_refusal = refusal("training.succeeded")
        self.train_button.setEnabled(has_recipe and not training and train_refusal is None)
        if train_refusal:
            self.train_button.setToolTip(train_refusal)
        elif not has_recipe:
            self.train_button.setToolTip("Write a recipe first (Edit recipe…)")
        else:
            self.train_button.setToolTip("Train the next version from the recipe "
                                         "(Ctrl+Shift+T)")

    # -- actions ----------------------------------------------------------------------------------

    def edit_recipe(self) -> None:
        if self.model_name is None or not self.edit_button.isEnabled():
            return
        dialog = RecipeDialog(self._session, self.model_name, self.recipe, self)
        self.recipe_dialog = dialog
        dialog.accepted.connect(lambda: self._save_recipe(dialog))
        dialog.open()

    def _save_recipe(self, dialog: RecipeDialog) -> None:
        name = self.model_name
        recipe, gate, code_file, reason = (dialog.recipe(), dialog.gate(), dialog.code_file(),
                                           dialog.reason())
        schedule, policy = dialog.schedule(), dialog.policy()
        training = self._training
        self._session.work.write(
            f"Saving the recipe of {name}",
            lambda control: training.save_recipe(name, recipe, gate=gate, reason=reason,
                                                 code_file=code_file, schedule=schedule,
                                                 policy=policy),
            on_success=lambda stored: self.reload(), context=self)

    def trust_code(self) -> None:
        if self.recipe is None:
            return
        recipe = self.recipe.recipe
        dialog = ReasonDialog(
            "Trust the code recipe",
            f"{recipe.code_filename} (SHA-256 {recipe.code_sha256[:16]}…) will run with your "
            "rights in a worker process each time this model trains. Trust it only after "
            "reading it.", self, action_text="Trust")
        name = self.model_name
        training = self._training
        dialog.accepted.connect(lambda: self._session.work.write(
            "Trusting the code recipe",
            lambda control: training.trust_recipe_code(name, dialog.reason()),
            on_success=lambda _: self.reload(), context=self))
        dialog.open()

    def train_now(self) -> None:
        if self.model_name is None or not self.train_button.isEnabled():
            return
        name = self.model_name
        training = self._training

        def job(control):
            return training.train(name, cause="started from the Training tab",
                                  progress=lambda percent, text: control.report(percent, 100,
                                                                                text),
                                  cancelled=control.cancel_event)

        self._start(f"Training {name}", job, self._on_trained)

    def _start(self, label: str, job, on_success) -> None:
        # Training waits minutes on its worker process; the read lane keeps the write lane free
        # for everything else the window writes meanwhile. The run writes once, at its end.
        self._task = self._session.work.read(label, job, on_success=on_success,
                                             on_failure=self._on_training_failed, context=self)
        self._task.progressed.connect(self._on_progress)
        self._task.finished.connect(self._on_task_finished)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.progress_label.setStyleSheet("")
        self.progress_label.setText("Starting the training worker…")
        self._update_actions()

    def reproduce_selected(self) -> None:
        run = self.selected_run()
        if run is None or run.version_number is None or self._task is not None:
            return
        name, number = run.model_name, run.version_number
        training = self._training

        def job(control):
            return training.reproduce(name, number,
                                      progress=lambda percent, text: control.report(
                                          percent, 100, text),
                                      cancelled=control.cancel_event)

        self._start(f"Reproducing {name} v{number}", job, self._on_reproduced)

    def _on_reproduced(self, result) -> None:
        self.progress_label.setStyleSheet("" if result.verified else "color: #b00020;")
        self.progress_label.setText(result.summary[:1].upper() + result.summary[1:])
        self.reproduced.emit(result)

    def cancel_training(self) -> None:
        if self._task is not None:
            self._task.control.request_cancel()
            self.progress_label.setText("Cancelling…")

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setValue(done)
        self.progress_label.setText(text)

    def _on_trained(self, run: TrainingRun) -> None:
        self.progress_label.setText(f"Run #{run.id}: {run.outcome_text}")
        self._session.check_for_changes()
        self.training_finished.emit(run)

    def _on_training_failed(self, error: BaseException) -> None:
        self.progress_label.setText(str(error))
        QMessageBox.warning(self, "Could not start", str(error))

    def _on_task_finished(self) -> None:
        self._task = None
        self.progress.hide()
        self.cancel_button.hide()
        self._update_actions()
        self.reload()

    # -- the selected run -------------------------------------------------------------------------

    def selected_run(self) -> TrainingRun | None:
        rows = self.runs_table.selectionModel().selectedRows()
        return self.runs_model.row(rows[0]) if rows else None

    def _show_selected_run(self, *_: object) -> None:
        self._show_run(self.selected_run())

    def _show_run(self, run: TrainingRun | None) -> None:
        self.request_button.setVisible(run is not None and run.request_id is not None)
        self.reproduce_button.setVisible(run is not None and run.version_number is not None)
        self.reproduce_button.setEnabled(self._task is None)
        if run is None:
            self.run_title.setText("")
            self.chart.set_comparison(None)
            self.differences_table.setRowCount(0)
            self.test_label.setText("")
            self.gate_label.setText("")
            self.log_view.setPlainText("")
            return
        self.run_title.setText(f"<b>Run #{run.id}</b> ({run.trigger.value}, by "
                               f"{html.escape(run.started_by)}): "
                               f"{html.escape(run.outcome_text)}")
        self.log_view.setPlainText(run.log)
        comparison = run.comparison
        self.chart.set_comparison(comparison)
        self.differences_table.setRowCount(0)
        if comparison is None:
            self.test_label.setText(
                "No champion to compare with: this version is the model's first, or the "
                "champion has no model file." if run.status is RunStatus.SUCCEEDED else "")
        else:
            self.differences_table.setRowCount(len(comparison.differences))
            for row, difference in enumerate(comparison.differences):
                low, high = difference.improvement_interval
                cells = (difference.metric, _number(difference.champion),
                         _number(difference.challenger), _signed(difference.improvement),
                         f"{_signed(low)} to {_signed(high)}")
                for column, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    if column:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                              | Qt.AlignmentFlag.AlignVCenter)
                    self.differences_table.setItem(row, column, item)
            test = comparison.test
            slices = ""
            if comparison.slices:
                first = comparison.differences[0].metric
                parts = []
                for part in comparison.slices:
                    found = [d for d in part.differences if d.metric == first]
                    if found:
                        parts.append(f"{part.value} {found[0].improvement:+.3f}")
                slices = (f"\nPer {comparison.slices[0].column} ({first} gain): "
                          + ", ".join(parts) + ".")
            recent = run.monitor_comparison
            if recent is not None:
                shown = recent.differences[0]
                low, high = shown.improvement_interval
                slices += (f"\nOn the monitor's {recent.rows:,} recent labelled rows: "
                           f"{shown.metric} {shown.improvement:+.4f} ({low:+.4f} to "
                           f"{high:+.4f}).")
            self.test_label.setText(
                f"v{run.version_number} against v{run.champion_version_number} on the same "
                f"{comparison.rows:,} holdout rows. {test.name}: p = {test.p_value:.3g}"
                + (f" ({test.note})." if test.note else ".") + slices)
        if run.gate is None:
            self.gate_label.setText("No gate was set when this run trained: its challenger "
                                    "was registered without being judged."
                                    if run.status is RunStatus.SUCCEEDED else "")
        else:
            lines = [f"<b>Gate {'passed' if run.gate.passed else 'failed'}</b>"]
            for check in run.gate.checks:
                mark = "✓" if check.passed else "✗"
                colour = "#2a8f6a" if check.passed else "#b00020"
                lines.append(f"<span style='color:{colour}'>{mark}</span> "
                             f"{html.escape(check.name)}: {html.escape(check.detail)}")
            self.gate_label.setText("<br>".join(lines))

    def _open_request(self) -> None:
        run = self.selected_run()
        if run is not None and run.request_id is not None:
            self.open_request.emit(run.request_id)


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "—"


def _signed(value: float) -> str:
    return f"{value:+.4f}" if math.isfinite(value) else "—"
