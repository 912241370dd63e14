"""The pages of an open workspace, built one at a time so that opening it never freezes the
window: built together, the six pages held the GUI thread 180-290 ms."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget


class WorkspacePages(QObject):
    """Pages by title, in navigation order. A page is built the first time it is asked for;
    `build_the_rest` builds the others one per turn of the event loop, so input and paints
    get in between."""

    page_built = Signal(str, QWidget)  # title, page: just built
    all_built = Signal()  # every page built (or tried: a failure is shown, never retried)

    def __init__(self, builders: dict[str, Callable[[], QWidget]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._builders = dict(builders)
        self._pages: dict[str, QWidget] = {}
        self._failed: set[str] = set()  # raised when built (the error is shown): not retried
        # A timer object rather than QTimer.singleShot(0, ...), whose posted calls Qt runs two
        # at a time.
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._build_next)

    def titles(self) -> tuple[str, ...]:
        return tuple(self._builders)

    def __contains__(self, title: object) -> bool:
        return title in self._builders

    def __getitem__(self, title: str) -> QWidget:
        page = self._pages.get(title)
        if page is None:
            page = self._pages[title] = self._builders[title]()
            self.page_built.emit(title, page)
            if len(self._pages) + len(self._failed) == len(self._builders):
                # On a turn of its own, not inside whatever asked for the last page.
                self._timer.start()
        return page

    def built(self) -> list[QWidget]:
        return list(self._pages.values())

    def build_the_rest(self) -> None:
        """Build the pages not built yet, one per turn of the event loop, in order, then
        say ``all_built`` (never, if `stop` comes first)."""
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _build_next(self) -> None:
        waiting = [title for title in self._builders
                   if title not in self._pages and title not in self._failed]
        if not waiting:
            self.all_built.emit()
            return
        try:
            self[waiting[0]]
        except BaseException:
            self._failed.add(waiting[0])
            raise
        finally:  # the next page, or all_built; a page that failed to build stops neither
            self._timer.start()
