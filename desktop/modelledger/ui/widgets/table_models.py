"""Table models over the repositories: pages are fetched and sorted in SQL, on a worker thread.

A ``PagedTableModel`` knows its columns and a ``fetch_page`` function that runs on the read lane.
The view asks for more rows as the user scrolls (``canFetchMore``/``fetchMore``); the rows arrive
later as a queued signal, so scrolling a 100,000-row table never waits on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from modelledger.core.palette import HEALTH_COLOURS, MUTED
from modelledger.ui.base.session import WorkspaceSession

DEFAULT_PAGE_SIZE = 200
Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()  # the invisible parent of every row of a flat table


@dataclass(frozen=True)
class Column:
    title: str
    text: Callable[[Any], str]
    sort_key: str | None = None  # the SQL sort this column stands for; None: not sortable
    align_right: bool = False
    tooltip: Callable[[Any], str] | None = None
    foreground: Callable[[Any], str | None] | None = None  # a colour name, or None


@dataclass(frozen=True)
class PageRequest:
    offset: int
    limit: int
    sort_key: str | None
    descending: bool
    last_row: Any  # the last row already loaded, for keyset paging; None on the first page


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int | None  # known total row count, or None when counting is not worth it


FetchPage = Callable[[PageRequest], Page]


def column_data(column: Column, row: Any, role: int) -> Any:
    """What a table cell shows of ``row`` in ``column`` for one Qt item data role."""
    if role == Qt.ItemDataRole.DisplayRole:
        return column.text(row)
    if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
        return column.tooltip(row)
    if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
        return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if role == Qt.ItemDataRole.ForegroundRole and column.foreground is not None:
        colour = column.foreground(row)
        return QBrush(QColor(colour)) if colour else None
    return None


class RecordsModel(QAbstractTableModel):
    """Rows of records shown through columns; the paged and the in-memory models share it."""

    def __init__(self, columns: Sequence[Column], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: Sequence[Any] = []

    def row(self, index: Index | int) -> Any:
        return self._rows[index if isinstance(index, int) else index.row()]

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        return column_data(self._columns[index.column()], self._rows[index.row()], role)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(self._columns)):
            return self._columns[section].title
        return None


class PagedTableModel(RecordsModel):
    loaded = Signal()  # a reload's rows have arrived
    load_failed = Signal(object)

    def __init__(self, session: WorkspaceSession, columns: Sequence[Column],
                 fetch_page: FetchPage, *, key: Callable[[Any], Any],
                 page_size: int = DEFAULT_PAGE_SIZE, sort_key: str | None = None,
                 descending: bool = False, parent: QObject | None = None) -> None:
        super().__init__(columns, parent)
        self._session = session
        self._fetch_page = fetch_page
        self._key = key
        self._page_size = page_size
        self._sort_key = sort_key
        self._descending = descending
        self._total: int | None = 0
        self._generation = 0  # results of an older query are dropped
        self._fetching = False
        self._more_requested = False  # a fetchMore() is on its way
        self._reload_limit = 0  # the rows a reload on its way asked for
        self._has_more = False

    # -- queries --------------------------------------------------------------------------------

    def set_fetch_page(self, fetch_page: FetchPage) -> None:
        """A new filter: start again from the first page."""
        self._fetch_page = fetch_page
        self.reload(keep_loaded=False)

    def reload(self, *, keep_loaded: bool = True) -> None:
        """Read the rows again (another instance may have changed them)."""
        self._generation += 1
        generation = self._generation
        # Keep what the user has scrolled to, including a page asked for but not yet arrived
        # (this reload supersedes that request), or asked for by a reload this one supersedes.
        asked_for = max(len(self._rows) + (self._page_size if self._more_requested else 0),
                        self._reload_limit)
        limit = max(self._page_size, asked_for) if keep_loaded else self._page_size
        self._more_requested = False
        self._reload_limit = limit
        request = PageRequest(0, limit, self._sort_key, self._descending, None)
        fetch = self._fetch_page
        self._fetching = True
        self._session.work.read(
            "Loading", lambda control: fetch(request),
            on_success=lambda page: self._on_reload_done(generation, page, limit),
            on_failure=lambda error: self._on_load_failed(generation, error), quiet=True,
            context=self)

    def rows(self) -> list[Any]:
        return list(self._rows)

    def row_of_key(self, key: Any) -> int | None:
        for number, row in enumerate(self._rows):
            if self._key(row) == key:
                return number
        return None

    def total(self) -> int | None:
        return self._total

    def is_loading(self) -> bool:
        return self._fetching

    # -- Qt model interface ---------------------------------------------------------------------

    def canFetchMore(self, parent: Index = ROOT) -> bool:
        return not parent.isValid() and self._has_more and not self._fetching

    def fetchMore(self, parent: Index = ROOT) -> None:
        if parent.isValid() or not self.canFetchMore():
            return
        generation = self._generation
        request = PageRequest(len(self._rows), self._page_size, self._sort_key,
                              self._descending, self._rows[-1] if self._rows else None)
        fetch = self._fetch_page
        self._fetching = True
        self._more_requested = True
        self._session.work.read(
            "Loading more rows", lambda control: fetch(request),
            on_success=lambda page: self._on_more_done(generation, page),
            on_failure=lambda error: self._on_load_failed(generation, error), quiet=True,
            context=self)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self._columns) or self._columns[column].sort_key is None:
            return
        self._sort_key = self._columns[column].sort_key
        self._descending = order == Qt.SortOrder.DescendingOrder
        self.reload(keep_loaded=False)

    # -- results --------------------------------------------------------------------------------

    def _on_reload_done(self, generation: int, page: Page, limit: int) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._reload_limit = 0
        self.beginResetModel()
        self._rows = list(page.rows)
        self._total = page.total
        self._has_more = self._more_after(page, limit)
        self.endResetModel()
        self.loaded.emit()

    def _on_more_done(self, generation: int, page: Page) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._more_requested = False
        if page.rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page.rows) - 1)
            self._rows.extend(page.rows)
            self.endInsertRows()
        if page.total is not None:
            self._total = page.total
        self._has_more = self._more_after(page, self._page_size)

    def _more_after(self, page: Page, limit: int) -> bool:
        """Whether another page exists, once ``page`` has been added to the rows."""
        if page.total is not None:
            return len(self._rows) < page.total
        return len(page.rows) >= limit

    def _on_load_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._more_requested = False
        self._reload_limit = 0
        self.load_failed.emit(error)


class RecordListModel(RecordsModel):
    """Records already read (an evidence pack's events). The sequence is kept as given, not
    copied: a pack's events are parsed only as rows are shown."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[Any] = (),
                 parent: QObject | None = None) -> None:
        super().__init__(columns, parent)
        self._rows = rows

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()


def record_table(model: RecordsModel, *,
                 resize_mode: QHeaderView.ResizeMode = QHeaderView.ResizeMode.Interactive
                 ) -> QTableView:
    """A read-only view of whole records: rows are selected whole, one line per record."""
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setVisible(False)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(resize_mode)
    return table


def selected_record(table: QTableView) -> Any | None:
    """The record of a `record_table`'s selected row, or None."""
    rows = table.selectionModel().selectedRows()
    return table.model().row(rows[0]) if rows else None


def select_record(table: QTableView, key: Any) -> bool:
    """Select the record with this key in a `record_table`; False if it is not loaded."""
    row = table.model().row_of_key(key)
    if row is None:
        return False
    table.selectRow(row)
    return True


def foreground_for_stage(stage: str | None) -> str | None:
    """Stage colours used by every table, so a stage reads the same everywhere."""
    return STAGE_COLOURS.get(stage or "")


STAGE_COLOURS = {
    "production": "#1b7f3b",
    "staging": "#a35f00",
    "development": "#2457a6",
    "archived": "#7a7a7a",
}


def foreground_for_health(health: str | None) -> str:
    """Health colours used by every table; grey for no value (not monitored, not run)."""
    return HEALTH_COLOURS.get(health or "", MUTED)


