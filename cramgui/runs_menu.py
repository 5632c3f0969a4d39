"""What the runs panel does to one run: its context menu (open, resume, evaluate, use settings, rename, notes,
open folder, copy path, archive) and the actions behind it that change the run's identity (console name and notes
in console.json, the move to RUNS_DIR/archive/). A mixin of cramgui.runs.RunsPanel: it uses the panel's signals,
table, run() / label() / busy_paths() / can_resume() / can_evaluate(), _cache and refresh_now()."""
from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QInputDialog, QMenu, QMessageBox

from .run_meta import write_meta
from .runs_model import PATH_ROLE

ARCHIVE_DIR = "archive"     # RUNS_DIR/archive/: where "Move to archive" puts a run (not listed)


class RunsMenu:
    """The context menu and the run-identity actions of the runs panel."""

    # -- the run's identity -----------------------------------------------------------------------------------
    def rename(self, path: str, name: str) -> None:
        write_meta(path, name=name.strip())
        self._cache.pop(str(path), None)
        self.refresh_now()
        self.status_message.emit(f"Renamed {Path(path).name} to {name.strip() or Path(path).name}")

    def set_notes(self, path: str, notes: str) -> None:
        write_meta(path, notes=notes.strip())
        self._cache.pop(str(path), None)
        self.refresh_now()
        self.status_message.emit(f"Notes of {self.label(path)} saved")

    def archive(self, path: str) -> Path | None:
        """Move the run folder to RUNS_DIR/archive/ (never a run being written); returns where it went."""
        p = Path(path)
        r = self.run(path)
        if str(p) in self.busy_paths() or (r and r.get("status") == "running"):
            raise RuntimeError(f"{p.name} is being written; stop it first")
        dest_dir = p.parent / ARCHIVE_DIR
        dest_dir.mkdir(exist_ok=True)
        dest = dest_dir / p.name
        i = 1
        while dest.exists():
            i += 1
            dest = dest_dir / f"{p.name}-{i}"
        shutil.move(str(p), str(dest))
        self._cache.pop(str(p), None)
        self.refresh_now()
        self.status_message.emit(f"Moved {p.name} to {dest}")
        return dest

    # -- the context menu ---------------------------------------------------------------------------------------
    def context_menu(self, path: str) -> QMenu:
        """The actions for one run (also what a right-click shows)."""
        m = QMenu(self)
        label = self.label(path)
        m.addAction("Open", lambda: self.open_requested.emit(path))
        a = m.addAction("Resume", lambda: self.resume_requested.emit(path))
        a.setEnabled(self.can_resume(path))
        a = m.addAction("Evaluate…", lambda: self.evaluate_requested.emit(path))
        a.setEnabled(self.can_evaluate(path))
        m.addAction("Use this run's settings", lambda: self.use_settings_requested.emit(path))
        m.addSeparator()
        m.addAction("Rename…", lambda: self._rename_dialog(path))
        m.addAction("Notes…", lambda: self._notes_dialog(path))
        m.addSeparator()
        m.addAction("Open folder", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
        m.addAction("Copy path", lambda: self._copy_path(path))
        m.addSeparator()
        a = m.addAction("Move to archive…", lambda: self._archive_dialog(path))
        a.setEnabled(str(path) not in self.busy_paths())
        m.setTitle(label)
        for act in m.actions():
            act.setObjectName(act.text().rstrip("…").replace(" ", "_").replace("'", "").lower())
        return m

    def _context_menu(self, pos) -> None:
        ix = self.table.indexAt(pos)
        if not ix.isValid():
            return
        path = ix.data(PATH_ROLE)
        if path not in self.selected_paths():
            self.select_paths([path])
        self.context_menu(path).popup(self.table.viewport().mapToGlobal(pos))

    def _copy_path(self, path: str) -> None:
        QGuiApplication.clipboard().setText(str(path))
        self.status_message.emit(f"Copied {path}")

    def _rename_dialog(self, path: str) -> None:
        r = self.run(path) or {}
        d = QInputDialog(self)
        d.setObjectName("renameDialog")
        d.setWindowTitle("Rename run")
        d.setLabelText(f"Name shown for {Path(path).name} (the folder keeps its name; empty = the folder's):")
        d.setTextValue(r.get("label") if r.get("label") != Path(path).name else "")
        d.textValueSelected.connect(lambda text: self._guard(lambda: self.rename(path, text)))
        d.setAttribute(Qt.WA_DeleteOnClose)
        d.open()

    def _notes_dialog(self, path: str) -> None:
        r = self.run(path) or {}
        d = QInputDialog(self)
        d.setObjectName("notesDialog")
        d.setWindowTitle(f"Notes — {self.label(path)}")
        d.setLabelText("Notes (kept in the run folder, console.json):")
        d.setOption(QInputDialog.UsePlainTextEditForTextInput)
        d.setTextValue(r.get("notes") or "")
        d.textValueSelected.connect(lambda text: self._guard(lambda: self.set_notes(path, text)))
        d.setAttribute(Qt.WA_DeleteOnClose)
        d.open()

    def _archive_dialog(self, path: str) -> None:
        box = QMessageBox(QMessageBox.Question, "Move run to archive",
                          f"Move {self.label(path)} to {Path(path).parent / ARCHIVE_DIR}?",
                          QMessageBox.Yes | QMessageBox.Cancel, self)
        box.setObjectName("confirmArchive")
        box.setTextFormat(Qt.PlainText)
        box.setInformativeText("The folder is moved, not deleted: move it back to list it again.")
        box.button(QMessageBox.Yes).setText("Move to archive")
        box.setDefaultButton(QMessageBox.Cancel)
        box.finished.connect(lambda r: self._guard(lambda: self.archive(path)) if r == QMessageBox.Yes else None)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def _guard(self, fn) -> None:
        try:
            fn()
        except (OSError, RuntimeError) as e:
            box = QMessageBox(QMessageBox.Warning, "Runs", str(e), QMessageBox.Ok, self)
            box.setTextFormat(Qt.PlainText)
            box.setAttribute(Qt.WA_DeleteOnClose)
            box.open()
