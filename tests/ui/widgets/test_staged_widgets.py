"""Widgets built one at a time (a workspace's pages, a health page's charts)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from modelledger.ui.widgets.staged_widgets import StagedWidgets


def test_every_page_built_is_announced_on_a_turn_of_its_own(qtbot):
    """Asked for the last page (as the menu's Verify chain asks for the audit page), the pages
    must not run ``all_built`` handlers inside the caller."""
    pages = StagedWidgets({"a": QWidget, "b": QWidget})
    announced = []
    pages.all_built.connect(lambda: announced.append(len(pages.built())))
    pages["a"], pages["b"]
    assert announced == []
    qtbot.waitUntil(lambda: announced == [2], timeout=2000)
    for page in pages.built():
        page.deleteLater()


def test_a_page_that_fails_to_build_stops_no_other(qtbot):
    def broken() -> QWidget:
        raise RuntimeError("no such table")

    pages = StagedWidgets({"a": QWidget, "broken": broken, "c": QWidget})
    built = []
    pages.widget_built.connect(lambda title, _page: built.append(title))
    with (qtbot.captureExceptions() as failures,
          qtbot.waitSignal(pages.all_built, timeout=2000)):
        pages.build_the_rest()
    assert built == ["a", "c"]
    assert [str(error) for _, error, _ in failures] == ["no such table"]  # once, not retried
    for page in pages.built():
        page.deleteLater()
