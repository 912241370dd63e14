"""Widgets built one at a time, so that building many never freezes the window: built together,
a workspace's six pages held the GUI thread 89-154 ms, a health page's five charts ~100 ms."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget


class StagedWidgets(QObject):
    """Widgets by name, in the builders' order. A widget is built the first time it is asked
    for; `build_the_rest` builds the others one per turn of the event loop, so input and paints
    get in between."""

    widget_built = Signal(str, QWidget)  # name, widget: just built
    all_built = Signal()  # every widget built (or tried: a failure is shown, never retried)

    def __init__(self, builders: dict[str, Callable[[], QWidget]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._builders = dict(builders)
        self._widgets: dict[str, QWidget] = {}
        self._failed: set[str] = set()  # raised when built (the error is shown): not retried
        # A timer object rather than QTimer.singleShot(0, ...), whose posted calls Qt runs two
        # at a time.
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._build_next)

    def names(self) -> tuple[str, ...]:
        return tuple(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def __getitem__(self, name: str) -> QWidget:
        widget = self._widgets.get(name)
        if widget is None:
            widget = self._widgets[name] = self._builders[name]()
            self.widget_built.emit(name, widget)
            if len(self._widgets) + len(self._failed) == len(self._builders):
                # On a turn of its own, not inside whatever asked for the last widget.
                self._timer.start()
        return widget

    def built(self) -> list[QWidget]:
        return list(self._widgets.values())

    def build_the_rest(self) -> None:
        """Build the widgets not built yet, one per turn of the event loop, in order, then
        say ``all_built`` (never, if `stop` comes first)."""
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _build_next(self) -> None:
        waiting = [name for name in self._builders
                   if name not in self._widgets and name not in self._failed]
        if not waiting:
            self.all_built.emit()
            return
        try:
            self[waiting[0]]
        except BaseException:
            self._failed.add(waiting[0])
            raise
        finally:  # the next widget, or all_built; one that failed to build stops neither
            self._timer.start()
