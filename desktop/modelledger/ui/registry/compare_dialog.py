"""Compare versions of a model side by side: facts, metrics, parameters, features, environment.

The dialog reads all versions of the model once on the read lane (``list_versions`` returns
them complete), so ticking versions in or out recomputes the comparison at once, without
another trip to the database. It reads them again when the workspace changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from modelledger.core.comparison import (
    MISSING,
    ComparisonRow,
    VersionComparison,
    compare_versions,
)
from modelledger.core.domain import ModelVersion
from modelledger.core.errors import ModelLedgerError
from modelledger.ui.base.errors import show_error
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.widgets.table_models import ROOT, Index, foreground_for_stage

# Translucent, so the palette's base shows through: a pale amber on a light palette, a dark
# amber on a dark one, and the palette's own text colour stays readable on both.
DIFFERENCE_BACKGROUND = QColor(255, 170, 0, 70)
SECTION_BACKGROUND = QColor(128, 128, 128, 60)
MISSING_FOREGROUND = QColor(128, 128, 128)
COPIED_FEEDBACK_MILLISECONDS = 1500


class ComparisonTableModel(QAbstractTableModel):
    """Rows of a ``VersionComparison`` under section header rows; column 0 names the field.

    A differing row is tinted across; within it, the values that differ from the first
    version's are bold, so the eye finds both the row and the change.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._comparison: VersionComparison | None = None
        self._only_differences = False
        self._entries: list[str | ComparisonRow] = []  # a str is a section header row

    def set_comparison(self, comparison: VersionComparison | None) -> None:
        self.beginResetModel()
        self._comparison = comparison
        self._entries = self._visible_entries()
        self.endResetModel()

    def set_only_differences(self, only_differences: bool) -> None:
        if only_differences == self._only_differences:
            return
        self.beginResetModel()
        self._only_differences = only_differences
        self._entries = self._visible_entries()
        self.endResetModel()

    def comparison(self) -> VersionComparison | None:
        return self._comparison

    def is_section_row(self, row: int) -> bool:
        return isinstance(self._entries[row], str)

    def comparison_row(self, row: int) -> ComparisonRow | None:
        entry = self._entries[row]
        return None if isinstance(entry, str) else entry

    def _visible_entries(self) -> list[str | ComparisonRow]:
        if self._comparison is None:
            return []
        entries: list[str | ComparisonRow] = []
        for section in self._comparison.sections:
            rows = [row for row in self._comparison.rows_in(section)
                    if row.differs or not self._only_differences]
            if rows:
                entries.append(section)
                entries.extend(rows)
        return entries

    def _section_title(self, section: str) -> str:
        assert self._comparison is not None
        rows = self._comparison.rows_in(section)
        differing = sum(row.differs for row in rows)
        if differing == 0:
            return f"{section}  ·  all {len(rows)} equal"
        return f"{section}  ·  {differing} of {len(rows)} differ"

    # -- Qt model interface ---------------------------------------------------------------------

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: Index = ROOT) -> int:
        if parent.isValid() or self._comparison is None:
            return 0
        return 1 + len(self._comparison.versions)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._entries):
            return None
        entry = self._entries[index.row()]
        if isinstance(entry, str):
            return self._section_data(entry, index.column(), role)
        return self._row_data(entry, index.column(), role)

    def _section_data(self, section: str, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._section_title(section) if column == 0 else ""
        if role == Qt.ItemDataRole.FontRole:
            return _bold_font()
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(SECTION_BACKGROUND)
        return None

    def _row_data(self, row: ComparisonRow, column: int, role: int) -> Any:
        if column == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return row.key
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{row.section}: {row.key}"
            if role == Qt.ItemDataRole.FontRole and row.differs:
                return _bold_font()
            if role == Qt.ItemDataRole.BackgroundRole and row.differs:
                return QBrush(DIFFERENCE_BACKGROUND)
            return None
        version = column - 1
        if role == Qt.ItemDataRole.DisplayRole:
            return row.cell_text(version)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._value_tooltip(row, version)
        if role == Qt.ItemDataRole.FontRole and row.changed[version]:
            return _bold_font()
        if role == Qt.ItemDataRole.BackgroundRole and row.differs:
            return QBrush(DIFFERENCE_BACKGROUND)
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.values[version] is MISSING:
                return QBrush(MISSING_FOREGROUND)
            if row.key == "Stage":
                colour = foreground_for_stage(row.values[version])
                return QBrush(QColor(colour)) if colour else None
        return None

    def _value_tooltip(self, row: ComparisonRow, version: int) -> str:
        assert self._comparison is not None
        if row.values[version] is MISSING:
            return f"Not recorded for {self._comparison.versions[version].label}"
        text = row.full_texts[version]
        delta = row.deltas[version]
        if delta:
            text += f" ({delta:+.6g} against {self._comparison.versions[0].label})"
        return text

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or self._comparison is None:
            return None
        if not 0 <= section < self.columnCount():
            return None
        if section == 0:
            return "Field" if role == Qt.ItemDataRole.DisplayRole else None
        version = self._comparison.versions[section - 1]
        if role == Qt.ItemDataRole.DisplayRole:
            return version.label
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{version.model_name} v{version.number} ({version.stage})"
        return None

    # -- copying --------------------------------------------------------------------------------

    def to_tsv(self, rows: Sequence[int] | None = None,
               columns: Sequence[int] | None = None, *, with_header: bool = True) -> str:
        """The shown texts as tab-separated lines, for pasting into a spreadsheet or a mail."""
        rows = range(self.rowCount()) if rows is None else rows
        columns = range(self.columnCount()) if columns is None else columns
        lines = []
        if with_header:
            lines.append([self.headerData(column, Qt.Orientation.Horizontal)
                          for column in columns])
        lines.extend([self.data(self.index(row, column)) for column in columns] for row in rows)
        return "".join("\t".join(_tsv_cell(cell) for cell in line) + "\n" for line in lines)


def _tsv_cell(text: str | None) -> str:
    return " ".join((text or "").split())


def _bold_font() -> QFont:
    font = QFont()
    font.setBold(True)
    return font


class ComparisonTableView(QTableView):
    """The comparison table; the copy shortcut copies the selected cells."""

    copy_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class CompareVersionsDialog(QDialog):
    """Non-modal: the user may keep it open beside the model's page and compare more."""

    loaded = Signal()  # the versions arrived and the comparison (or why there is none) shows

    def __init__(self, session: WorkspaceSession, model_name: str,
                 version_numbers: Sequence[int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareVersionsDialog")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint)
        self.setWindowTitle(f"Compare versions of {model_name}")
        self.resize(1000, 640)
        self._session = session
        self.model_name = model_name
        self._checked = set(version_numbers)
        self._versions: dict[int, ModelVersion] | None = None
        self._loading = False
        self._reload_pending = False
        self._build()
        session.changed.connect(self._on_session_changed)
        self._load()

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        versions_label = QLabel("&Versions to compare")
        self.version_list = QListWidget()
        self.version_list.setObjectName("compareVersionList")
        self.version_list.itemChanged.connect(self._on_version_list_item_changed)
        versions_label.setBuddy(self.version_list)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(versions_label)
        left_layout.addWidget(self.version_list, 1)

        self.only_differences_box = QCheckBox("Show only &differences")
        self.only_differences_box.toggled.connect(self._on_only_differences_box_toggled)
        self.summary_label = QLabel()
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("&Copy as TSV")
        self.copy_button.setToolTip("Copy the whole table as tab-separated text; Ctrl+C in the "
                                    "table copies the selected cells")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        tools = QHBoxLayout()
        tools.addWidget(self.only_differences_box)
        tools.addSpacing(12)
        tools.addWidget(self.summary_label, 1)
        tools.addWidget(self.copy_button)

        self.table_model = ComparisonTableModel(self)
        self.table = ComparisonTableView()
        self.table.setObjectName("comparisonTable")
        self.table.setModel(self.table_model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + 8)
        self.table.horizontalHeader().setMinimumSectionSize(110)
        self.table.horizontalHeader().setHighlightSections(False)
        self.table.copy_requested.connect(self._on_table_copy_requested)
        self.table_model.modelReset.connect(self._on_table_model_reset)

        self.message_label = QLabel()
        self.message_label.setObjectName("compareMessage")
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.message_label)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(tools)
        right_layout.addWidget(self.stack, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([170, 830])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        self._show_message(f"Loading the versions of {self.model_name}…")

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> None:
        # One read at a time: a change arriving mid-read asks for one more read after it, so an
        # older answer can never land after a newer one.
        if self._loading:
            self._reload_pending = True
            return
        self._loading = True
        registry = self._session.workspace.registry
        name = self.model_name
        self._session.work.read(f"Loading the versions of {name}",
                                lambda control: registry.list_versions(name),
                                on_success=self._on_versions_loaded,
                                on_failure=self._on_versions_failed,
                                quiet=self._versions is not None)

    def _finish_load(self) -> bool:
        """Whether the answer that just arrived is the latest one wanted."""
        self._loading = False
        if self._reload_pending:
            self._reload_pending = False
            self._load()
            return False
        return True

    def _on_session_changed(self) -> None:
        self._load()

    def _on_versions_loaded(self, versions: list[ModelVersion]) -> None:
        if not self._finish_load():
            return
        self._versions = {version.version_number: version for version in versions}
        self._fill_version_list(versions)
        self._show_comparison()
        self.loaded.emit()

    def _on_versions_failed(self, error: BaseException) -> None:
        if not self._finish_load():
            return
        self.table_model.set_comparison(None)
        self._update_controls()
        if isinstance(error, ModelLedgerError):
            self._show_message(f"Could not load the versions of {self.model_name}: {error}")
        else:
            self._show_message(f"Could not load the versions of {self.model_name}.")
            show_error(self, error)
        self.loaded.emit()

    def _fill_version_list(self, versions: list[ModelVersion]) -> None:
        self.version_list.blockSignals(True)
        self.version_list.clear()
        for version in versions:
            created = f"{version.created_at.astimezone():%Y-%m-%d %H:%M}"
            item = QListWidgetItem(f"v{version.version_number}  ·  {version.stage.value}")
            item.setData(Qt.ItemDataRole.UserRole, version.version_number)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            checked = version.version_number in self._checked
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            colour = foreground_for_stage(version.stage.value)
            if colour:
                item.setForeground(QBrush(QColor(colour)))
            estimator = version.estimator_class.rsplit(".", 1)[-1] or "no estimator recorded"
            item.setToolTip(f"{estimator}\ncreated by {version.created_by}, {created}"
                            + (f"\n{version.notes}" if version.notes else ""))
            self.version_list.addItem(item)
        self.version_list.blockSignals(False)

    # -- showing --------------------------------------------------------------------------------

    def selected_version_numbers(self) -> list[int]:
        """The ticked versions that exist, oldest first: the oldest is the baseline."""
        return sorted(number for number in self._checked if number in (self._versions or {}))

    def _show_comparison(self) -> None:
        assert self._versions is not None
        chosen = self.selected_version_numbers()
        if len(chosen) < 2:
            self.table_model.set_comparison(None)
            self.setWindowTitle(f"Compare versions of {self.model_name}")
            if len(self._versions) < 2:
                self._show_message(f"{self.model_name} has {len(self._versions)} version(s): "
                                   "there is nothing to compare yet.")
            else:
                self._show_message("Tick two or more versions on the left to compare them.")
        else:
            comparison = compare_versions([self._versions[number] for number in chosen])
            self.table_model.set_comparison(comparison)
            labels = ", ".join(version.label for version in comparison.versions)
            self.setWindowTitle(f"Compare {self.model_name}: {labels}")
            self._show_table_or_no_differences()
        self._update_controls()

    def _show_table_or_no_differences(self) -> None:
        comparison = self.table_model.comparison()
        if comparison is None:
            return
        if self.table_model.rowCount() == 0:
            self._show_message("No differences: the selected versions agree in every field.")
        else:
            self.stack.setCurrentWidget(self.table)

    def _update_controls(self) -> None:
        comparison = self.table_model.comparison()
        self.only_differences_box.setEnabled(comparison is not None)
        self.copy_button.setEnabled(comparison is not None and self.table_model.rowCount() > 0)
        if comparison is None:
            self.summary_label.setText("")
            return
        baseline = comparison.versions[0].label
        self.summary_label.setText(
            f"{comparison.differing_count} of {len(comparison.rows)} fields differ  ·  "
            f"bold: changed since {baseline}")

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.stack.setCurrentWidget(self.message_label)

    def _on_table_model_reset(self) -> None:
        self.table.clearSpans()
        columns = self.table_model.columnCount()
        if columns == 0:
            return
        for row in range(self.table_model.rowCount()):
            if self.table_model.is_section_row(row) and columns > 1:
                self.table.setSpan(row, 0, 1, columns)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        # Long pipeline parameter names may take up to 40% of the table, never all of it.
        widest_allowed = max(240, self.table.viewport().width() * 2 // 5)
        header.resizeSection(0, min(max(self._field_column_width(), 140), widest_allowed))
        for column in range(1, columns):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)

    def _field_column_width(self) -> int:
        """Wide enough for the field names; section titles span the row and do not count.

        Hidden rows count too, so the column keeps its width when the filter is toggled.
        """
        comparison = self.table_model.comparison()
        if comparison is None:
            return 0
        bold = QFont(self.table.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)  # a differing field's name is bold
        widest = max((metrics.horizontalAdvance(row.key) for row in comparison.rows), default=0)
        return widest + 24  # the cell's padding and grid line

    # -- user actions ---------------------------------------------------------------------------

    def _on_version_list_item_changed(self, item: QListWidgetItem) -> None:
        number = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self._checked.add(number)
        else:
            self._checked.discard(number)
        self._show_comparison()

    def _on_only_differences_box_toggled(self, checked: bool) -> None:
        self.table_model.set_only_differences(checked)
        if self.table_model.comparison() is not None:
            self._show_table_or_no_differences()
        self._update_controls()

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.table_model.to_tsv())
        self.copy_button.setText("Copied")
        QTimer.singleShot(COPIED_FEEDBACK_MILLISECONDS, self.copy_button,
                          lambda: self.copy_button.setText("&Copy as TSV"))

    def _on_table_copy_requested(self) -> None:
        selected = self.table.selectionModel().selectedIndexes()
        if not selected:
            QGuiApplication.clipboard().setText(self.table_model.to_tsv())
            return
        rows = sorted({index.row() for index in selected})
        columns = sorted({index.column() for index in selected})
        QGuiApplication.clipboard().setText(
            self.table_model.to_tsv(rows, columns, with_header=False))
