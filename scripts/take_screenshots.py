"""Screenshots of each main screen on the demo workspace, for the README.

Run under a real X server (Xvfb), not offscreen, so fonts and styles are what users see:
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/take_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "resources" / "screenshots"


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="modelledger-shots-"))
    os.environ["MODELLEDGER_CONFIG_DIR"] = str(scratch / "config")
    os.environ["MODELLEDGER_LOG_DIR"] = str(scratch / "logs")
    os.environ.setdefault("MODELLEDGER_USER", "bob")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from modelledger.services.demo.build import create_demo_workspace
    from modelledger.services.workspace.opening import Workspace
    from modelledger.ui.registry.compare_dialog import CompareVersionsDialog
    from modelledger.ui.registry.import_wizard import ImportWizard
    from modelledger.ui.shell.main_window import MainWindow

    app = QApplication(sys.argv)
    app.setApplicationName("ModelLedger")
    demo = create_demo_workspace(scratch / "demo" / "modelledger-demo.db")

    def settle(milliseconds: int = 700) -> None:
        loop = QEventLoop()
        QTimer.singleShot(milliseconds, loop.quit)
        loop.exec()

    def shoot(widget, name: str) -> None:
        settle()
        path = OUTPUT / f"{name}.png"
        widget.grab().save(str(path))
        print(f"wrote {path}")

    OUTPUT.mkdir(parents=True, exist_ok=True)
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    shoot(window, "welcome")
    window.set_workspace(Workspace.open(demo), str(demo))
    for page in ("Portfolio", "Models", "Monitoring", "Alerts", "Audit timeline", "Settings"):
        window.show_page(page)
        shoot(window, page.lower().replace(" ", "-"))
    audit = window.pages["Audit timeline"]
    window.show_page("Audit timeline")
    audit.show_model_events("wine-cultivar")
    settle(1500)
    audit.table.selectRow(next(row for row, event in enumerate(audit.events.rows())
                               if event.action == "stage.rollback"))
    shoot(window, "audit-event")
    audit.clear_filters()
    as_of = audit.show_model_as_of("vendor-credit-score")
    as_of.resize(900, 600)
    settle(1500)
    shoot(as_of, "model-as-of")
    as_of.close()
    monitoring = window.pages["Monitoring"]
    monitoring.select_monitor(next(o.monitor.id for o in monitoring.monitors.rows()
                                   if o.monitor.model_name == "vendor-credit-score"))
    window.show_page("Monitoring")
    shoot(window, "monitoring")
    dialog = monitoring.new_monitor()
    dialog.resize(820, 640)
    shoot(dialog, "monitor-dialog")
    dialog.close()
    window.show_model("vendor-credit-score")
    detail = window.pages["Models"].detail
    settle(3000)  # the health history loads and its charts draw one after the other
    shoot(window, "model-health")
    detail.health_view.scroll.verticalScrollBar().setValue(10_000)
    shoot(window, "model-health-lower")
    window.show_model("breast-cancer-screening")  # weekly runs, v2 promoted during them
    detail.health_view.scroll.verticalScrollBar().setValue(0)
    settle(3000)
    shoot(window, "model-health-versions")
    detail.health_view.ranking_panel.resize(900, detail.health_view.ranking_panel.height())
    shoot(detail.health_view.ranking_panel, "drift-ranking")
    detail.tabs.setCurrentWidget(detail.overview)
    shoot(window, "model-overview")
    detail.tabs.setCurrentWidget(detail.versions_splitter)
    shoot(window, "model-versions")
    detail.versions_table.selectAll()
    detail.compare_selected_versions()
    compare = window.findChild(CompareVersionsDialog)
    compare.resize(960, 640)
    shoot(compare, "compare-versions")
    compare.close()
    window.show_model("digits-recognizer")  # retrained from its incident, through the gate
    detail.tabs.setCurrentWidget(detail.training_tab)
    settle(2500)
    shoot(window, "training")
    window.start_register_model()
    wizard = window.findChild(ImportWizard)
    shoot(wizard, "import-wizard")
    wizard.close()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
