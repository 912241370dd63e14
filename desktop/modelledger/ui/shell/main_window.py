"""Main window: navigation, menus, status bar, and opening and switching workspaces."""

from __future__ import annotations

import logging
import os
import platform
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QStackedWidget,
    QStyle,
    QSystemTrayIcon,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modelledger import __version__
from modelledger.core.audit_chain import ChainReport
from modelledger.core.monitoring import Alert
from modelledger.services.governance.log_bundle import LogBundle
from modelledger.services.identity import keystore
from modelledger.services.identity.service import Standing
from modelledger.services.monitoring.scheduler import RunningJob, SchedulerEvent
from modelledger.services.workspace.opening import Workspace, default_user, plain_keys_folder
from modelledger.ui.base.errors import open_log_folder, show_error
from modelledger.ui.base.gui_thread import release_frozen_objects
from modelledger.ui.base.session import WorkspaceSession
from modelledger.ui.base.tasks import BackgroundWork, Task
from modelledger.ui.governance.audit_page import AuditPage
from modelledger.ui.health.portfolio_page import PortfolioPage
from modelledger.ui.monitoring.alerts_page import AlertsPage, AlertWatcher, describe_new_alerts
from modelledger.ui.monitoring.monitors_page import MonitoringPage
from modelledger.ui.registry.import_wizard import ImportWizard
from modelledger.ui.registry.models_page import ModelsPage
from modelledger.ui.shell.app_settings import AppSettings
from modelledger.ui.shell.enrolment_dialog import EnrolmentDialog
from modelledger.ui.shell.settings_page import SettingsPage
from modelledger.ui.shell.welcome_page import WelcomePage
from modelledger.ui.widgets.staged_widgets import StagedWidgets

if TYPE_CHECKING:
    from modelledger.core.evidence import EventSelection
    from modelledger.services.governance.evidence_pack import PackSummary
    from modelledger.ui.governance.review_window import ReviewWindow

log = logging.getLogger(__name__)

# The pages in navigation order; View menu shortcuts are Ctrl+1, Ctrl+2, ... in this order.
PAGE_TITLES = ("Portfolio", "Models", "Monitoring", "Alerts", "Audit timeline", "Settings")
NOTIFICATION_MILLISECONDS = 10_000
LOG_BUNDLE_PERIODS = {"the last 24 hours": timedelta(days=1), "the last 7 days": timedelta(days=7),
                      "the last 30 days": timedelta(days=30),
                      "the last 90 days": timedelta(days=90)}


class MainWindow(QMainWindow):
    workspace_opened = Signal()  # the workspace's pages are built and loading their data
    alerts_notified = Signal(str)  # new incidents were announced (tray message or status bar)
    error_shown = Signal(object)  # an error dialog opened for this exception

    def __init__(self, settings: AppSettings | None = None, *, user: str | None = None) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self._user = user  # act as this user instead of the login name (--user)
        self.session: WorkspaceSession | None = None
        self.enrolment_dialog: EnrolmentDialog | None = None  # while one is open
        self.pages = StagedWidgets({}, self)  # none until a workspace is open
        self.alert_watcher: AlertWatcher | None = None
        self.tray_icon: QSystemTrayIcon | None = None
        self._closing_sessions: list[WorkspaceSession] = []
        self._running_jobs: dict[int, RunningJob] = {}  # by claim id, as the scheduler reports
        self._launcher = BackgroundWork(self)  # opens workspaces before a session exists
        self._review_windows: list[ReviewWindow] = []  # kept open beside this window
        self._launcher.unhandled_failure.connect(self.show_error)
        self.setWindowTitle("ModelLedger")
        self.setAcceptDrops(False)
        self._build_layout()
        self._build_status_bar()
        self._build_menus()
        self._show_welcome()
        geometry = self.settings.window_geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)

    # -- building -------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        self.navigation = QListWidget()
        self.navigation.setObjectName("navigation")
        self.navigation.setFixedWidth(170)
        self.navigation.setFrameShape(QListWidget.Shape.NoFrame)
        self.navigation.currentRowChanged.connect(self._on_navigation_current_row_changed)
        self.stack = QStackedWidget()
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.navigation)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.navigation.setStyleSheet(
            "QListWidget#navigation { background: palette(window); border-right: 1px solid "
            "palette(mid); padding-top: 8px; font-size: 10.5pt; }"
            "QListWidget#navigation::item { padding: 9px 14px; }"
            "QListWidget#navigation::item:selected { background: palette(highlight); "
            "color: palette(highlighted-text); }")

    def _build_status_bar(self) -> None:
        self.workspace_label = QLabel("No workspace open")
        self.activity_bar = QProgressBar()
        self.activity_bar.setRange(0, 0)
        self.activity_bar.setFixedWidth(90)
        self.activity_bar.setMaximumHeight(14)
        self.activity_bar.setTextVisible(False)
        self.activity_bar.hide()
        self.activity_label = QLabel("")
        self.chain_label = QLabel("")
        # Shown when new alerts arrive and no system tray can show them; a click opens Alerts.
        self.alert_notice = QPushButton()
        self.alert_notice.setObjectName("alertNotice")
        self.alert_notice.setFlat(True)
        self.alert_notice.setCursor(Qt.CursorShape.PointingHandCursor)
        self.alert_notice.setStyleSheet(
            "QPushButton#alertNotice { color: #b00020; font-weight: bold; border: none; "
            "padding: 0 6px; text-decoration: underline; }")
        self.alert_notice.clicked.connect(self._on_alert_notice_clicked)
        self.alert_notice.hide()
        self.scheduler_indicator = QToolButton()
        self.scheduler_indicator.setObjectName("schedulerIndicator")
        self.scheduler_indicator.setAutoRaise(True)
        self.scheduler_indicator.clicked.connect(lambda: self.show_page("Monitoring"))
        self.scheduler_indicator.hide()
        self.statusBar().addWidget(self.workspace_label, 1)
        self.statusBar().addPermanentWidget(self.alert_notice)
        self.statusBar().addPermanentWidget(self.activity_bar)
        self.statusBar().addPermanentWidget(self.activity_label)
        self.statusBar().addPermanentWidget(self.scheduler_indicator)
        self.statusBar().addPermanentWidget(self.chain_label)
        self._launcher.activity_changed.connect(self._on_work_activity_changed)

    def _action(self, text: str, slot, shortcut=None, *, needs_workspace: bool = False,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        if needs_workspace:
            self._workspace_actions.append(action)
        self.addAction(action)  # shortcuts work even while the menu bar is hidden
        return action

    def _build_menus(self) -> None:
        self._workspace_actions: list[QAction] = []
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self._action("&New workspace…", self.choose_new_workspace,
                                         QKeySequence.StandardKey.New))
        file_menu.addAction(self._action("&Open workspace…", self.choose_workspace_file,
                                         QKeySequence.StandardKey.Open))
        file_menu.addAction(self._action("Open &server database…", self.choose_server_database,
                                         tip="Open a workspace on a PostgreSQL server"))
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(self._action("Open the &demo workspace", self.open_demo_workspace))
        file_menu.addSeparator()
        file_menu.addAction(self._action("Register &model…", self.start_register_model,
                                         "Ctrl+Shift+N", needs_workspace=True))
        file_menu.addAction(self._action("&Import model version…", self.start_import_version,
                                         "Ctrl+I", needs_workspace=True))
        export_menu = file_menu.addMenu("&Export")
        export_menu.addAction(self._action("&Evidence pack for review…",
                                           self.start_evidence_export, "Ctrl+Shift+E",
                                           needs_workspace=True))
        export_menu.addAction(self._action("Model &inventory as CSV…",
                                           self.export_inventory_csv, needs_workspace=True))
        file_menu.addSeparator()
        file_menu.addAction(self._action("Re&view an evidence pack…", self.choose_pack_to_review,
                                         "Ctrl+Shift+O"))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Close workspace", self.close_workspace,
                                         QKeySequence.StandardKey.Close, needs_workspace=True))
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self._action("&Find…", self.focus_search, QKeySequence.StandardKey.Find,
                                         needs_workspace=True))
        edit_menu.addAction(self._action("Workspace &settings", lambda: self.show_page("Settings"),
                                         "Ctrl+,", needs_workspace=True))

        view_menu = bar.addMenu("&View")
        for number, title in enumerate(PAGE_TITLES, 1):
            view_menu.addAction(self._action(
                f"&{title}", lambda checked=False, t=title: self.show_page(t), f"Ctrl+{number}",
                needs_workspace=True))
        view_menu.addSeparator()
        view_menu.addAction(self._action("&Reload", self.reload, QKeySequence.StandardKey.Refresh,
                                         needs_workspace=True))
        view_menu.addAction(self._action("&Verify audit chain", self.verify_chain,
                                         needs_workspace=True))

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard shortcuts", self.show_shortcuts, "F1"))
        help_menu.addAction(self._action("Open &log folder", open_log_folder))
        help_menu.addAction(self._action(
            "&Bundle logs for support…", self.bundle_logs_for_support,
            tip="One zip of the application's logs and the monitoring runs' logs of a period"))
        help_menu.addAction(self._action("&About ModelLedger", self.show_about))
        self._enable_workspace_actions(False)

    def _enable_workspace_actions(self, enabled: bool) -> None:
        for action in self._workspace_actions:
            action.setEnabled(enabled)

    # -- workspaces -----------------------------------------------------------------------------

    def open_workspace(self, target: str, *, create: bool = False,
                       user: str | None = None) -> None:
        """Open (or create) a workspace on a worker thread; the window stays usable meanwhile.
        The passphrase of the person's key is asked here, once per run of the application."""
        user = user or self._user or default_user()
        local = Path(target) if "://" not in target else None
        if plain_keys_folder(local) is None and keystore.passphrase_needed(user) and (
                create or keystore.has_key(user)):
            self._ask_passphrase(user, new=create and not keystore.has_key(user))
        self.statusBar().showMessage(f"Opening {target}…")
        self._launcher.read(
            f"Opening {Path(target).name if '://' not in target else 'server database'}",
            lambda control: Workspace.open(target, create=create, user=user),
            on_success=lambda workspace: self._on_workspace_opened(workspace, target),
            on_failure=lambda error: self._on_workspace_open_failed(error, target))

    def set_workspace(self, workspace: Workspace, target: str | None = None) -> None:
        """Show an already opened workspace (closing the current one)."""
        self.close_workspace()
        self.session = WorkspaceSession(workspace, self)
        self.session.work.activity_changed.connect(self._on_work_activity_changed)
        self.session.work.unhandled_failure.connect(self.show_error)
        database = workspace.database
        self.setWindowTitle(f"{database.display_name} — ModelLedger")
        mode = database.sharing_mode.value[:1].upper() + database.sharing_mode.value[1:]
        self.workspace_label.setText(
            f"{database.display_name}   ·   {mode}   ·   signed in as {workspace.actor.user}")
        self.workspace_label.setToolTip(str(database.sqlite_path or database.display_name))
        self.session.standing_changed.connect(partial(self._show_standing, workspace))
        self.navigation.clear()
        page_classes = (PortfolioPage, ModelsPage, MonitoringPage, AlertsPage, AuditPage,
                        SettingsPage)
        self.pages.deleteLater()
        self.pages = StagedWidgets({title: partial(page_class, self.session, self) for
                                    title, page_class in zip(PAGE_TITLES, page_classes,
                                                             strict=True)}, self)
        self.pages.widget_built.connect(self._on_page_built)
        # Every page is there and loading its data: verified then, the chain's verdict does
        # not wait for the pages still to be built.
        self.pages.all_built.connect(lambda: self.verify_chain(record=False))
        self.pages.all_built.connect(self.workspace_opened)
        for title in self.pages.names():
            QListWidgetItem(title, self.navigation)
        self.session.scheduler_event.connect(self._on_session_scheduler_event)
        # The alerts that exist now are never announced: read them before any run can start.
        self.alert_watcher = AlertWatcher(self.session, self.session)
        self.alert_watcher.new_alerts.connect(self._on_alert_watcher_new_alerts)
        self.alert_watcher.ready.connect(self._on_alert_watcher_ready)
        self.alert_watcher.start()
        self._update_scheduler_indicator()
        self._enable_workspace_actions(True)
        self.navigation.show()
        self.navigation.setCurrentRow(1)  # builds the Models page now, the others after it
        self.pages.build_the_rest()
        if target is not None:
            self.settings.remember_workspace(target)

    def _on_page_built(self, title: str, page: QWidget) -> None:
        self.stack.addWidget(page)
        if title in ("Portfolio", "Audit timeline"):
            page.model_requested.connect(self.show_model)
        if title == "Audit timeline":
            page.chain_verified.connect(self._on_chain_verified)
        if title == "Alerts":
            page.open_count_changed.connect(self._on_alerts_open_count_changed)

    def close_workspace(self) -> None:
        if self.session is None:
            return
        session, self.session = self.session, None
        # Workers first: a job still running must not report to a page being deleted. A
        # monitoring run in progress stops on a thread, so the window does not freeze meanwhile.
        self._closing_sessions.append(session)
        session.closed.connect(partial(self._on_session_closed, session))
        session.close_in_background()
        self.pages.stop()
        for page in self.pages.built():
            self.stack.removeWidget(page)
            page.deleteLater()
        self.pages.deleteLater()
        self.pages = StagedWidgets({}, self)
        self.alert_watcher = None
        self._running_jobs = {}
        self.alert_notice.hide()
        self.scheduler_indicator.hide()
        self.chain_label.setText("")
        self._show_welcome()

    def _on_session_closed(self, session: WorkspaceSession) -> None:
        if session in self._closing_sessions:
            self._closing_sessions.remove(session)
        session.deleteLater()
        release_frozen_objects()  # the closed workspace's pages may have been frozen

    def _show_welcome(self) -> None:
        self._enable_workspace_actions(False)
        self.setWindowTitle("ModelLedger")
        self.workspace_label.setText("No workspace open")
        self.navigation.clear()
        self.navigation.hide()
        if not hasattr(self, "welcome"):
            self.welcome = WelcomePage(self.settings, self)
            self.welcome.open_requested.connect(self.open_workspace)
            self.welcome.new_requested.connect(self.choose_new_workspace)
            self.welcome.browse_requested.connect(self.choose_workspace_file)
            self.welcome.demo_requested.connect(self.open_demo_workspace)
            self.stack.addWidget(self.welcome)
        self.welcome.reload_recent()
        self.stack.setCurrentWidget(self.welcome)

    def _ask_passphrase(self, user: str, *, new: bool) -> None:
        """Held in memory for this run only; cancelling leaves the workspace read only."""
        prompt = (f"Choose a passphrase for {user}'s new signing key (at least "
                  f"{keystore.MIN_PASSPHRASE} characters). It protects the key on this "
                  "computer and is asked each time ModelLedger starts:" if new else
                  f"Passphrase of {user}'s signing key (it signs what you decide):")
        passphrase, accepted = QInputDialog.getText(
            self, "Signing key", prompt, QLineEdit.EchoMode.Password)
        if accepted and passphrase:
            keystore.set_passphrase(passphrase)

    def _on_workspace_opened(self, workspace: Workspace, target: str) -> None:
        self.statusBar().clearMessage()
        self.set_workspace(workspace, target)

    def _show_standing(self, workspace: Workspace, standing: Standing) -> None:
        if self.session is None or self.session.workspace is not workspace:
            return
        database = workspace.database
        mode = database.sharing_mode.value[:1].upper() + database.sharing_mode.value[1:]
        self.workspace_label.setText(
            f"{database.display_name}   ·   {mode}   ·   {standing.describe()}")
        if standing.key_status == "no key" and not database.read_only:
            self._offer_enrolment(workspace)

    def _offer_enrolment(self, workspace: Workspace) -> None:
        """The first time someone opens a workspace they have no key for. The dialog does not
        block: the window (and whatever drives it) goes on meanwhile."""
        user = workspace.actor.user
        dialog = EnrolmentDialog(user, needs_passphrase=keystore.passphrase_needed(user),
                                 parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(partial(self._enrol, workspace, dialog))
        self.enrolment_dialog = dialog
        dialog.open()

    def _enrol(self, workspace: Workspace, dialog: EnrolmentDialog) -> None:
        if self.session is None or self.session.workspace is not workspace:
            return
        passphrase = dialog.chosen_passphrase()
        if passphrase is not None:
            keystore.set_passphrase(passphrase)
        user, display_name = workspace.actor.user, dialog.display_name.text().strip()

        def enrol(control):  # the session then reads the new standing, as after any write
            key = keystore.create_key(user)
            workspace.identity.request_enrolment(key, display_name=display_name)

        self.session.work.write("Enrolling your key", enrol)

    def _on_workspace_open_failed(self, error: BaseException, target: str) -> None:
        self.statusBar().clearMessage()
        self.show_error(error)

    def choose_workspace_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open workspace", str(Path.home()),
            "ModelLedger workspaces (*.db *.sqlite *.modelledger);;All files (*)")
        if path:
            self.open_workspace(path)

    def choose_new_workspace(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "New workspace", str(Path.home() / "models.db"),
            "ModelLedger workspaces (*.db)")
        if path:
            self.open_workspace(path, create=True)

    def choose_server_database(self) -> None:
        url, accepted = QInputDialog.getText(
            self, "Open server database",
            "PostgreSQL URL (the password comes from ~/.pgpass or PGPASSWORD):",
            text="postgresql://user@host:5432/modelledger")
        if accepted and url.strip():
            self.open_workspace(url.strip())

    def open_demo_workspace(self) -> None:
        from modelledger.services.demo.build import create_demo_workspace, default_demo_path

        def build(control):
            return str(create_demo_workspace(
                default_demo_path(), progress=lambda step: control.report(0, 0, step)))

        # The demo's people have their keys beside it; without --user, you are its developer.
        demo_user = self._user or os.environ.get("MODELLEDGER_USER") or "alice"
        task = self._launcher.write("Preparing the demo workspace", build,
                                    on_success=partial(self.open_workspace, user=demo_user))
        task.progressed.connect(
            lambda done, total, text: self.statusBar().showMessage(f"Demo: {text}"))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_workspaces()
        for target in recent:
            action = self.recent_menu.addAction(target)
            action.triggered.connect(lambda checked=False, t=target: self.open_workspace(t))
        if not recent:
            self.recent_menu.addAction("No recent workspaces").setEnabled(False)

    # -- actions --------------------------------------------------------------------------------

    def show_page(self, title: str) -> None:
        if title in self.pages:
            self.navigation.setCurrentRow(self.pages.names().index(title))

    def show_model(self, name: str) -> None:
        self.show_page("Models")
        self.pages["Models"].open_model(name)

    def focus_search(self) -> None:
        page = self.stack.currentWidget()
        if hasattr(page, "focus_search"):
            page.focus_search()

    def reload(self) -> None:
        if self.session is not None:
            self.session.changed.emit()

    def start_register_model(self) -> None:
        if self.session is not None:
            ImportWizard(self.session, self, register_new=True).open()

    def start_import_version(self) -> None:
        if self.session is None:
            return
        models_page = self.pages["Models"]
        ImportWizard(self.session, self, model_name=models_page.selected_model_name()).open()

    def export_inventory_csv(self) -> None:
        if self.session is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export model inventory",
                                              str(Path.home() / "model-inventory.csv"),
                                              "CSV files (*.csv)")
        if not path:
            return
        registry = self.session.workspace.registry
        from modelledger.services.governance.inventory_export import write_inventory_csv

        self.session.work.read(
            "Exporting the inventory", lambda control: write_inventory_csv(registry, Path(path)),
            on_success=lambda count: self.statusBar().showMessage(
                f"Exported {count} models to {path}", 8000), context=self)

    def start_evidence_export(self) -> None:
        """Ask what to export, then build the pack (reports included) on a worker."""
        if self.session is None:
            return
        registry = self.session.workspace.registry
        self.session.work.read(
            "Reading the model list", lambda control: [m.name for m in registry.list_models()],
            on_success=self._ask_evidence_selection, context=self)

    def _ask_evidence_selection(self, model_names: list[str]) -> None:
        from modelledger.ui.governance.evidence_export_dialog import ExportEvidenceDialog

        dialog = ExportEvidenceDialog(model_names, Path.home(), self)
        if dialog.exec() == ExportEvidenceDialog.DialogCode.Accepted:
            self.export_evidence(dialog.selection(), dialog.path(),
                                 with_reports=dialog.with_reports())

    def export_evidence(self, selection: EventSelection, path: Path, *,
                        with_reports: bool = True) -> Task:
        from modelledger.services.governance.review_export import export_for_review

        workspace = self.session.workspace
        progress = QProgressDialog("Exporting the evidence pack…", "Cancel", 0, 100, self)
        progress.setWindowTitle("Export evidence pack")
        progress.setMinimumDuration(300)
        task = self.session.work.write(
            "Exporting an evidence pack", lambda control: export_for_review(
                workspace.database, workspace.actor, selection, path,
                with_reports=with_reports, progress=control.report),
            on_success=self._on_evidence_exported, context=self)
        task.progressed.connect(lambda done, total, text: (
            progress.setValue(done), progress.setLabelText(text)))
        task.finished.connect(progress.reset)
        progress.canceled.connect(task.cancel)
        return task

    def _on_evidence_exported(self, summary: PackSummary) -> None:
        self.statusBar().showMessage(
            f"Evidence pack saved to {summary.path}: {summary.selected_count:,} events, "
            f"{len(summary.files)} files, signed with key {summary.signer_fingerprint[:16]}… "
            f"(recorded as event {summary.audit_seq})", 30_000)

    def choose_pack_to_review(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Review an evidence pack", str(Path.home()),
                                              "Evidence and reply packs (*.zip)")
        if path:
            self.open_review(Path(path))

    def open_review(self, path: Path) -> ReviewWindow:
        """Open a pack read-only in a window of its own; no workspace is needed."""
        from modelledger.ui.governance.review_window import ReviewWindow

        window = ReviewWindow(path)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._review_windows.append(window)
        window.destroyed.connect(lambda: self._review_windows.remove(window))
        window.show()
        return window

    def verify_chain(self, *, record: bool = True) -> None:
        """Verify on the audit page, which shows the details; the status bar shows the verdict."""
        if self.session is None:
            return
        self.chain_label.setText("Checking the audit chain…")
        self.pages["Audit timeline"].verify_chain(record=record)

    def bundle_logs_for_support(self) -> None:
        """Ask for a period and a file, then write the support bundle."""
        period, chosen = QInputDialog.getItem(self, "Bundle logs for support",
                                              "Logs and monitoring runs of:",
                                              list(LOG_BUNDLE_PERIODS), 1, False)
        if not chosen:
            return
        suggested = Path.home() / f"modelledger-logs-{datetime.now():%Y%m%d-%H%M}.zip"
        path, _ = QFileDialog.getSaveFileName(self, "Save the log bundle", str(suggested),
                                              "Zip files (*.zip)")
        if path:
            self.write_log_bundle(Path(path), LOG_BUNDLE_PERIODS[period])

    def write_log_bundle(self, path: Path, period: timedelta) -> Task:
        """Zip the application's logs and the open workspace's monitoring run logs of the last
        ``period`` on a worker; the status bar shows the progress, then where the file went."""
        from modelledger.logs import recent_lines
        from modelledger.paths import log_folder
        from modelledger.services.governance.log_bundle import write_log_bundle

        end = datetime.now(UTC)
        database = self.session.workspace.database if self.session is not None else None
        lines = list(recent_lines.lines)
        work = self.session.work if self.session is not None else self._launcher
        task = work.read(
            "Bundling logs", lambda control: write_log_bundle(
                path, end - period, end, log_dir=log_folder(), database=database,
                recent_lines=lines, progress=control.report,
                check_cancelled=control.check_cancelled),
            on_success=self._on_log_bundle_written, on_failure=self._on_log_bundle_failed)
        task.progressed.connect(lambda done, total, text: self.statusBar().showMessage(
            f"Bundling logs: {done} of {total}, {text}"))
        return task

    def _on_log_bundle_written(self, bundle: LogBundle) -> None:
        runs = f"{bundle.job_runs} monitoring run{'' if bundle.job_runs == 1 else 's'}"
        self.statusBar().showMessage(f"Log bundle saved to {bundle.path} ({runs})", 30_000)

    def _on_log_bundle_failed(self, error: BaseException) -> None:
        self.statusBar().clearMessage()
        self.show_error(error)

    def _on_chain_verified(self, report: ChainReport) -> None:
        if report.intact:
            self.chain_label.setText(f"Audit chain verified ({report.events_checked:,} events)")
            self.chain_label.setStyleSheet("")
        else:
            self.chain_label.setText("Audit chain BROKEN — see Audit timeline")
            self.chain_label.setStyleSheet("color: #b00020; font-weight: bold;")
        self.chain_label.setToolTip(report.describe())

    def show_error(self, error: BaseException) -> None:
        show_error(self, error)
        self.error_shown.emit(error)

    def show_shortcuts(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(0, 2, dialog)
        table.setHorizontalHeaderLabels(("Action", "Shortcut"))
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for action in self.actions():
            if action.shortcut().isEmpty():
                continue
            row = table.rowCount()
            table.insertRow(row)
            table.setItem(row, 0, QTableWidgetItem(action.text().replace("&", "").rstrip("…")))
            table.setItem(row, 1, QTableWidgetItem(
                action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(table)
        layout.addWidget(buttons)
        dialog.resize(420, 480)
        dialog.open()

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About ModelLedger",
            f"<h3>ModelLedger {__version__}</h3>"
            "<p>Model inventory, lifecycle approvals, monitoring and a verifiable audit "
            "timeline, on your desktop.</p>"
            f"<p>Python {platform.python_version()} · PySide6 {pyside_version}</p>")

    # -- slots ----------------------------------------------------------------------------------

    def _on_navigation_current_row_changed(self, row: int) -> None:
        titles = self.pages.names()
        if 0 <= row < len(titles):
            self.stack.setCurrentWidget(self.pages[titles[row]])
            if titles[row] == "Alerts":
                self.alert_notice.hide()  # the user is looking at them now

    def _on_work_activity_changed(self, text: str) -> None:
        self.activity_label.setText(f"{text}…" if text else "")
        self.activity_bar.setVisible(bool(text))

    # -- monitoring -----------------------------------------------------------------------------

    def _on_alert_watcher_ready(self) -> None:
        if self.session is not None and self.session.start_scheduler():
            log.info("monitoring scheduler started for %s",
                     self.session.workspace.database.display_name)
        self._update_scheduler_indicator()

    def _on_session_scheduler_event(self, event: SchedulerEvent) -> None:
        # The scheduler still lists a job while it reports it finished: follow the events.
        if event.kind == "finished":
            self._running_jobs.pop(event.job.claim.id, None)
        else:
            self._running_jobs[event.job.claim.id] = event.job
        self._update_scheduler_indicator()

    def _update_scheduler_indicator(self) -> None:
        session = self.session
        if session is None:
            self.scheduler_indicator.hide()
            return
        self.scheduler_indicator.show()
        if session.scheduler is None:
            note = session.scheduler_note()
            self.scheduler_indicator.setText("Monitoring off (read-only)" if note
                                             else "Monitoring starting…")
            self.scheduler_indicator.setToolTip(note)
            return
        jobs = list(self._running_jobs.values())
        if not jobs:
            self.scheduler_indicator.setText("Monitoring: idle")
            self.scheduler_indicator.setToolTip("This window runs the workspace's monitors on "
                                                "their schedules. Click to see them.")
            return
        self.scheduler_indicator.setText(
            f"Monitoring: {len(jobs)} run{'s' if len(jobs) != 1 else ''} in progress")
        self.scheduler_indicator.setToolTip("\n".join(
            f"{job.model_name} / {job.monitor_name}: {job.message} ({job.percent}%)"
            for job in jobs))

    def _on_alerts_open_count_changed(self, count: int) -> None:
        if "Alerts" in self.pages:
            self.navigation.item(self.pages.names().index("Alerts")).setText(
                f"Alerts ({count})" if count else "Alerts")

    def _on_alert_watcher_new_alerts(self, alerts: list[Alert]) -> None:
        """A tray notification for critical incidents (when the desktop has a tray); anything
        else, or no tray, is shown in the status bar, where a click opens Alerts."""
        text = describe_new_alerts(alerts)
        critical = [alert for alert in alerts if alert.severity.value == "critical"]
        log.info("notifying about %d new or more severe incidents", len(alerts))
        if critical and QSystemTrayIcon.isSystemTrayAvailable():
            title = ("Critical monitoring incident" if len(critical) == 1
                     else "Critical monitoring incidents")
            self._tray().showMessage(title, describe_new_alerts(critical),
                                     QSystemTrayIcon.MessageIcon.Critical,
                                     NOTIFICATION_MILLISECONDS)
        else:
            self.alert_notice.setText(f"⚠ {text} — show incidents")
            self.alert_notice.setToolTip("\n".join(alert.title for alert in alerts))
            self.alert_notice.show()
        self.alerts_notified.emit(text)

    def _tray(self) -> QSystemTrayIcon:
        if self.tray_icon is None:
            icon = QGuiApplication.windowIcon()
            if icon.isNull():
                icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            self.tray_icon = QSystemTrayIcon(icon, self)
            self.tray_icon.setToolTip("ModelLedger")
            self.tray_icon.messageClicked.connect(self._on_tray_icon_message_clicked)
            self.tray_icon.activated.connect(self._on_tray_icon_activated)
            self.tray_icon.show()
        return self.tray_icon

    def show_alerts(self) -> None:
        self.alert_notice.hide()
        self.show_page("Alerts")

    def _on_tray_icon_message_clicked(self) -> None:
        # The window may be minimised or behind others when the desktop shows the message.
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()
        self.show_alerts()

    def _on_tray_icon_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        self._on_tray_icon_message_clicked()

    def _on_alert_notice_clicked(self) -> None:
        self.show_alerts()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.set_window_geometry(self.saveGeometry())
        self.settings.sync()
        self.close_workspace()
        if self._closing_sessions:
            # A monitoring run in progress is stopped and its slot handed back for another
            # instance; the process must not exit before that is written.
            self.statusBar().showMessage("Stopping monitoring runs…")
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                for session in list(self._closing_sessions):
                    session.wait_closed()
            finally:
                QApplication.restoreOverrideCursor()
        if self.tray_icon is not None:
            self.tray_icon.hide()
        self._launcher.shutdown()
        super().closeEvent(event)
