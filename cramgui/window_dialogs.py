"""The window's dialogs: open a run or a sweep folder, Evaluate…, Get CodeXGLUE… / Build from source folder…
(made once, kept with their state and task), Job script…, Sweep…. Each kind is open once at a time
(`self.dialogs[kind]`). A mixin of cramgui.main_window.MainWindow (it uses the window's form, session, runs,
sweep_view, engine_command, dialogs, use_corpus / evaluate_run / open_run / select_tab / show_message)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from .data_dialogs import BuildDialog, FetchDialog
from .evaluate_dialog import EvaluateDialog
from .job_script import JobScriptDialog
from .sweep_dialog import SweepDialog


class WindowDialogs:
    """The dialogs of the main window, one per kind at a time."""

    def open_run_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open run directory", str(self.runs.runs_dir))
        if d:
            self.open_run(d)

    def open_evaluate_dialog(self, path=None, stop_first: bool = False) -> EvaluateDialog | None:
        """Evaluate… (split, beam, checkpoint) the shown run or PATH; with stop_first, "Stop and evaluate" the
        live run."""
        d = Path(path) if path else (self.session.live_dir if stop_first else self.session.run_dir)
        if d is None:
            return None
        old = self.dialogs.pop("evaluate", None)
        if old is not None:
            old.close()
        dlg = EvaluateDialog(d, self.runs.label(d), stop_first, self)
        if stop_first:
            dlg.requested.connect(lambda _p, split, beam, cp: self.session.stop_and_evaluate(split, beam, cp))
        else:
            dlg.requested.connect(lambda p, split, beam, cp: self.evaluate_run(p, split, beam, cp))
        self.dialogs["evaluate"] = dlg
        dlg.open()
        return dlg

    def _corpus_dialog(self, kind: str, make):
        """The fetch / build dialog: made once (it keeps its state and any task it runs), then raised."""
        d = self.dialogs.get(kind)
        if d is None:
            d = make()
            d.use_corpus.connect(self.use_corpus)
            self.dialogs[kind] = d
        d.show()
        d.raise_()
        d.activateWindow()
        return d

    def open_fetch_dialog(self) -> FetchDialog:
        return self._corpus_dialog("fetch", lambda: FetchDialog(self.form.config().data.languages,
                                                                self.engine_command, self))

    def open_build_dialog(self) -> BuildDialog:
        langs = self.form.config().data.languages
        return self._corpus_dialog("build", lambda: BuildDialog(langs[0] if langs else "python",
                                                                self.engine_command, self))

    def open_job_script_dialog(self) -> JobScriptDialog:
        old = self.dialogs.pop("job", None)
        if old is not None:
            old.close()
            old.deleteLater()
        d = JobScriptDialog(self.form.config(), self.runs.runs_dir, self.form.errors(), self)
        self.dialogs["job"] = d
        d.show()
        return d

    def open_sweep_dialog(self) -> SweepDialog | None:
        """Sweep…: from the current form; on Start the Sweep tab launches and follows it."""
        if self.sweep_view.running():
            self.show_message(QMessageBox.Information, "A sweep is running",
                              "Stop it in the Sweep tab before starting another.", "", "sweep")
            return None
        old = self.dialogs.pop("sweep", None)
        if old is not None:
            old.close()
            old.deleteLater()
        d = SweepDialog(self.form.config(), self.runs.runs_dir, self)
        d.accepted.connect(lambda: (self.sweep_view.start(d.spec_path, d.sweep_dir), self.select_tab("sweep")))
        self.dialogs["sweep"] = d
        d.show()
        return d

    def open_sweep_folder(self, path=None) -> None:
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Open sweep", str(self.runs.runs_dir / "sweeps"))
        if path:
            self.sweep_view.open(path)
            self.select_tab("sweep")
