"""Exporting an evidence pack from the window, and reviewing it with no workspace at all."""

from __future__ import annotations

import zipfile
from pathlib import Path

from PySide6.QtCore import Qt

from modelledger.core.evidence import EventSelection
from modelledger.services.governance.evidence_pack import verify_pack
from modelledger.ui.governance.evidence_export_dialog import ExportEvidenceDialog
from modelledger.ui.governance.review_window import ReviewWindow


def _export(qtbot, open_window, demo_workspace, path: Path):
    window = open_window(demo_workspace)
    task = window.export_evidence(EventSelection(("vendor-credit-score",)), path)
    with qtbot.waitSignal(task.succeeded, timeout=60_000) as exported:
        pass
    window.close()
    return exported.args[0]


def test_a_pack_exported_from_the_window_opens_for_review_without_its_workspace(
        qtbot, open_window, demo_workspace, tmp_path):
    pack = tmp_path / "review" / "evidence.zip"
    pack.parent.mkdir()
    summary = _export(qtbot, open_window, demo_workspace, pack)
    assert "report.pdf" in summary.files and "events.jsonl" in summary.files
    database = Path(demo_workspace.database.sqlite_path)
    demo_workspace.close()
    database.unlink()  # the reviewer has nothing but the pack

    review = ReviewWindow(pack)
    qtbot.addWidget(review)
    with qtbot.waitSignal(review.loaded, timeout=30_000) as loaded:
        review.show()
    opened = loaded.args[0]
    assert opened.contents.verification.valid
    assert review.badge.text().startswith("✔ Verified")
    assert review.events.rowCount() == summary.selected_count > 0
    assert review.events.row(0).seq >= review.events.row(review.events.rowCount() - 1).seq
    review.event_table.selectRow(0)
    assert str(review.events.row(0).seq) in review.event_details.toPlainText()
    # Every decision carries its signature badge, judged with nothing but the pack.
    assert "decisions is signed by its author's valid key" in review.badge.text()
    [approval] = [row for row in range(review.events.rowCount())
                  if review.events.row(row).action == "promotion.approved"][:1]
    signed_column = review.events.columnCount() - 1
    assert review.events.headerData(signed_column, Qt.Orientation.Horizontal) == "Signed"
    assert review.events.index(approval, signed_column).data() == "✔ Bob Okafor"
    review.event_table.selectRow(approval)
    assert "signed by Bob Okafor, key" in review.event_details.toPlainText()
    assert review.document_list.count() == 1  # the HTML card of the one model
    assert "vendor-credit-score" in review.document_view.toPlainText()
    assert len(opened.charts) >= 1 and review.open_pdf_button.isEnabled()

    assert not review.save_reply_button.isEnabled()  # no notes yet
    review.notes_edit.setPlainText("Backtest evidence missing for Q3; KPI decline unexplained.")
    reply = tmp_path / "review" / "evidence-review.zip"
    with qtbot.waitSignal(review.reply_saved, timeout=30_000):
        review.save_reply(reply)
    verified = verify_pack(reply)
    assert verified.valid and verified.original_manifest_sha256 == summary.manifest_sha256
    review.close()


def test_a_tampered_pack_is_flagged_in_review_mode(qtbot, open_window, demo_workspace,
                                                   tmp_path):
    pack = tmp_path / "evidence.zip"
    _export(qtbot, open_window, demo_workspace, pack)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(pack) as original, zipfile.ZipFile(tampered, "w") as copy:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename == "report.html":
                data = data.replace(b"vendor-credit-score", b"vendor-credit-scorf", 1)
            copy.writestr(info, data)
    review = ReviewWindow(tampered)
    qtbot.addWidget(review)
    with qtbot.waitSignal(review.loaded, timeout=30_000):
        review.show()
    assert review.badge.text().startswith("✖ NOT VALID")
    assert "report.html" in review.badge.text()
    review.close()


def test_the_export_dialog_asks_for_a_valid_choice(qtbot, tmp_path):
    dialog = ExportEvidenceDialog(["credit-risk", "churn"], tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.ok_button.isEnabled() and dialog.selection().selects_everything
    dialog.all_models_box.setChecked(False)
    assert not dialog.ok_button.isEnabled() and "Tick at least one" in dialog.problem_label.text()
    dialog.model_list.item(1).setCheckState(Qt.CheckState.Checked)
    assert dialog.ok_button.isEnabled() and dialog.selection().models == ("churn",)
    dialog.path_edit.setText(str(tmp_path / "pack.txt"))
    assert not dialog.ok_button.isEnabled() and ".zip" in dialog.problem_label.text()


def test_a_file_that_is_no_pack_says_so_in_review_mode(qtbot, tmp_path):
    not_a_pack = tmp_path / "holiday-photos.zip"
    with zipfile.ZipFile(not_a_pack, "w") as archive:
        archive.writestr("beach.jpg", b"not evidence")
    review = ReviewWindow(not_a_pack)
    qtbot.addWidget(review)
    with qtbot.waitSignal(review.load_failed, timeout=30_000) as failed:
        review.show()
    assert review.badge.text().startswith("✖ Cannot open holiday-photos.zip")
    assert str(failed.args[0]) in review.badge.text()
    assert not review.tabs.isEnabled()


def test_a_pack_handed_over_by_the_finder_opens_in_a_review_window(qtbot, tmp_path):
    """macOS sends "Open With" as a FileOpen event (ui/shell/file_open.py); other files are left
    to the application."""
    from PySide6.QtGui import QFileOpenEvent
    from PySide6.QtWidgets import QApplication

    from modelledger.ui.shell.file_open import PackOpenRequests

    application = QApplication.instance()
    requests = PackOpenRequests(application)
    pack = tmp_path / "evidence.zip"
    with zipfile.ZipFile(pack, "w") as archive:
        archive.writestr("readme.txt", b"no manifest")
    QApplication.sendEvent(application, QFileOpenEvent(str(tmp_path / "notes.txt")))
    assert requests.review_windows == []
    QApplication.sendEvent(application, QFileOpenEvent(str(pack)))
    assert len(requests.review_windows) == 1
    review = requests.review_windows[0]
    assert review.pack_path == pack and review.isVisible()
    qtbot.waitUntil(lambda: review.badge.text().startswith("✖ Cannot open evidence.zip"),
                    timeout=30_000)
    review.close()
    qtbot.waitUntil(lambda: requests.review_windows == [], timeout=5_000)
    application.removeEventFilter(requests)
    requests.deleteLater()
