"""What the window tells the user: the notice line above the tabs (confirmations, with links for what to do
next), non-blocking plain-text message boxes (one per kind), the finished-run banner and the desktop notification,
the live-run bar (another run is shown while one trains here) and the empty state (no runs yet). A mixin of
cramgui.main_window.MainWindow (it uses the window's session, runs, banners and status bar)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QStyle, QSystemTrayIcon

from .formatting import bleu
from .session_messages import CRITICAL, INFORMATION, WARNING

NOTICE_MS = 12000
ICONS = {CRITICAL: QMessageBox.Critical, WARNING: QMessageBox.Warning, INFORMATION: QMessageBox.Information}


class WindowNotices:
    """Notices, message boxes, banners and the desktop notification of the main window."""

    def _on_session_message(self, level: str, title: str, text: str, info: str, kind: str) -> None:
        """RunSession.message: a message box with the level's icon."""
        self.show_message(ICONS.get(level, QMessageBox.Information), title, text, info, kind)

    def _announce_finished(self, info: dict) -> None:
        """The live run ended: a banner (test BLEU-4 per language, best dev BLEU and its step, View results) and,
        when the window is not active, a desktop notification."""
        status = info.get("status") or ""
        label = self.runs.label(info["path"])
        what = "Evaluation of" if info.get("kind") == "eval" else "Run"
        floors = info.get("floors") or {}
        parts = [f"{lang} {bleu(b)}" + (f" (constant floor {bleu(floors[lang])})" if lang in floors else "")
                 for lang, b in (info.get("results") or {}).items() if b is not None]
        text = f"{what} {label} {status}."
        if parts:
            text += " Test BLEU-4: " + ", ".join(parts) + "."
        if info.get("best_dev_bleu") is not None:
            text += f" Best dev BLEU {bleu(info['best_dev_bleu'])}"
            text += f" at step {info['best_step']:,}." if info.get("best_step") is not None else "."
        path = info["path"]
        links = [("View results", lambda: self._view_results(path))]
        if status in ("stopped", "failed") and self.session.evaluable(path):
            links.append(("Evaluate…", lambda: self.open_evaluate_dialog(path)))
        tone = {"completed": "success", "failed": "error"}.get(status, "warning")
        self.finished_banner.show_message(text, links, tone)
        if not self.isActiveWindow():
            self._desktop_notification(f"cramgui: {label} {status}", text)

    def _view_results(self, path: str) -> None:
        if self.session.run_dir is None or str(self.session.run_dir) != str(path):
            self.open_run(path)
        self.select_tab("results")

    def _desktop_notification(self, title: str, text: str) -> None:
        self.notifications.append((title, text))
        if not QSystemTrayIcon.isSystemTrayAvailable() or not QSystemTrayIcon.supportsMessages():
            return
        if self.tray is None:
            self.tray = QSystemTrayIcon(self.windowIcon() if not self.windowIcon().isNull()
                                        else self.style().standardIcon(QStyle.SP_ComputerIcon), self)
            self.tray.messageClicked.connect(lambda: (self.raise_(), self.activateWindow()))
        self.tray.show()
        self.tray.showMessage(title, text, QSystemTrayIcon.Information, 10000)

    def notify(self, text: str, links=(), timeout_ms: int = NOTICE_MS) -> None:
        """A confirmation the user sees: the notice line above the tabs (with links for what to do next) and the
        status bar's message area."""
        self.notice.show_message(text, list(links), "info", timeout_ms)
        self.statusBar().showMessage(text, timeout_ms)

    def show_message(self, icon, title: str, text: str, info: str = "", kind: str = "") -> QMessageBox:
        """A non-blocking message box (never exec(): this is called from asyncio callbacks). Plain text only; a
        second message of the same kind while one is open replaces its text instead of stacking boxes."""
        name = f"message_{kind}" if kind else "message"
        for box in self.message_boxes:
            if box.objectName() == name and box.isVisible():
                box.setWindowTitle(title)
                box.setText(text)
                box.setInformativeText(info)
                _plain(box)
                return box
        box = QMessageBox(icon, title, text, QMessageBox.Ok, self)
        box.setObjectName(name)
        box.setTextFormat(Qt.PlainText)
        if info:
            box.setInformativeText(info)
        _plain(box)
        box.setTextInteractionFlags(Qt.TextSelectableByMouse)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self.message_boxes.remove(b) if b in self.message_boxes else None)
        self.message_boxes.append(box)
        box.open()
        return box

    def _update_live_bar(self) -> None:
        s = self.session
        if s.is_running() and not s.showing_live() and s.live_dir is not None:
            text = (f"{self.runs.label(s.live_dir)} is {'being evaluated' if s.live_kind == 'eval' else 'training'} "
                    f"here ({s.live_steps_text()}); you are looking at another run.")
            if self.live_bar.text() != text or not self.live_bar.isVisible():
                self.live_bar.show_message(text, [("Show the live run", self.show_live_run)], "info")
        elif self.live_bar.isVisible():
            self.live_bar.hide()

    def _update_empty_state(self) -> None:
        empty = not self.runs.runs and self.session.run_dir is None and not self.session.is_running()
        if empty and not self.empty_state.isVisible():
            self.empty_state.show_message(
                "No runs yet. Try the smoke preset: 2 minutes on a CPU, a micro model trained on the built-in "
                "corpus — its BLEU-4 is shown beside the constant-prediction floor it has to beat.",
                [("Start the smoke preset", self.start_smoke)], "info")
        elif not empty and self.empty_state.isVisible():
            self.empty_state.hide()


def _plain(box: QMessageBox) -> None:
    """Every label of a message box as plain text (the informative text too: Qt guesses rich text there)."""
    for label in box.findChildren(QLabel):
        label.setTextFormat(Qt.PlainText)
