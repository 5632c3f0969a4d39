"""The data section's two dialogs: "Get CodeXGLUE…" (`cram data fetch codexglue`) and "Build from source
folder…" (`cram data build`). Each runs the engine as a subprocess (DataTask), shows its progress, can cancel it
(SIGTERM; the dialog stays responsive), shows the engine's message when it fails, and emits
`use_corpus(path, languages)` for the form when the data is ready.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar,
                               QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from engine.contract.paths import (CODEXGLUE_COUNTS, CODEXGLUE_HUB_DATASET, LANGUAGES, SPLITS, codexglue_dir,
                                   source_corpus_dir)

from .data_task import DataTask

ERROR_STYLE = "QPlainTextEdit { color: #b71c1c; background: #fff5f5; }"


def _fmt_counts(counts: dict) -> str:
    return " / ".join(f"{int(counts.get(s) or 0):,}" for s in SPLITS)


def _folder_row(edit: QLineEdit, title: str, parent: QWidget) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(4)
    lay.addWidget(edit, 1)
    b = QToolButton()
    b.setText("…")
    b.setToolTip(f"Choose the {title.lower()}")

    def choose():
        start = edit.text().strip() or edit.placeholderText() or str(Path.cwd())
        d = QFileDialog.getExistingDirectory(parent, title, str(Path(start).expanduser()))
        if d:
            edit.setText(d)
    b.clicked.connect(choose)
    lay.addWidget(b)
    edit.browse_button = b
    return w


class _TaskDialog(QDialog):
    """A form on top, then a progress bar, a message line, an error box (the engine's words, selectable) and
    Start / Cancel / Close. Subclasses fill `self.fields`, build the engine arguments and say what a result is."""

    use_corpus = Signal(str, list)     # folder, languages

    START_TEXT = "Start"

    def __init__(self, engine_command: list[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.task = DataTask(engine_command, self)
        self.task.progress.connect(self._on_progress)
        self.task.finished.connect(self._on_finished)
        self._close_when_done = False
        self.env: dict | None = None           # extra environment for the engine (tests: HF_HUB_OFFLINE=1)

        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setTextFormat(Qt.RichText)
        self.fields = QFormLayout()
        self.fields.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.fields.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        self.progress_bar.hide()                 # until something runs
        self.message = QLabel("")
        self.message.setObjectName("taskMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message.setMinimumHeight(self.fontMetrics().height() * 2 + 4)
        self.message.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.message.hide()                      # until something runs
        self.error_box = QPlainTextEdit(readOnly=True)
        self.error_box.setObjectName("taskError")
        self.error_box.setStyleSheet(ERROR_STYLE)
        self.error_box.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        self.error_box.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.error_box.setMinimumHeight(120)
        self.error_box.hide()

        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton(self.START_TEXT, QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.start_button.setDefault(True)
        # the box's accepted/rejected would close the dialog: wire the buttons by hand
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)

        lay = QVBoxLayout(self)
        lay.addWidget(self.intro)
        lay.addLayout(self.fields)
        lay.addSpacing(6)
        lay.addWidget(self.progress_bar)
        lay.addWidget(self.message)
        lay.addWidget(self.error_box, 1)
        self.extra = QVBoxLayout()
        lay.addLayout(self.extra)
        lay.addStretch(0)
        lay.addWidget(self.buttons)
        self._set_running(False)

    # -- subclass hooks ---------------------------------------------------------------------------------------
    def engine_args(self) -> list[str] | None:
        """Arguments after `python -m engine`, or None (after set_problem) when the fields are not usable."""
        raise NotImplementedError

    def on_completed(self, result: dict) -> None:
        raise NotImplementedError

    # -- public API -------------------------------------------------------------------------------------------
    def start(self) -> bool:
        if self.task.is_running():
            return False
        args = self.engine_args()
        if args is None:
            return False
        self.error_box.clear()
        self.error_box.hide()
        self.progress_bar.show()
        self.message.show()
        self._on_progress(0, 0, "starting…")
        self.task.start(args, env=self.env)
        self._set_running(True)
        return True

    def cancel(self) -> None:
        if self.task.is_running():
            self.message.setText("Cancelling… (the engine stops after the current chunk)")
            self.cancel_button.setEnabled(False)
            self.task.cancel()

    def is_running(self) -> bool:
        return self.task.is_running()

    def message_text(self) -> str:
        return self.message.text()

    def error_text(self) -> str:
        return self.error_box.toPlainText() if self.error_box.isVisible() else ""

    def set_problem(self, text: str) -> None:
        """A problem with the fields (before anything runs)."""
        self.message.setText("")
        self.error_box.setPlainText(text)
        self.error_box.setVisible(bool(text))
        self.fit_height()

    def fit_height(self) -> None:
        """Grow to show what appeared (an error, the counts); never shrink what the user sized."""
        self.layout().activate()
        h = self.sizeHint().height()
        if h > self.height():
            self.resize(self.width(), h)

    # -- internals --------------------------------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.cancel_button.setVisible(running)
        self.close_button.setEnabled(not running)
        for i in range(self.fields.count()):
            item = self.fields.itemAt(i)
            if item is not None and item.widget() is not None:
                item.widget().setEnabled(not running)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))
            self.progress_bar.setFormat(f"{done:,} / {total:,}  (%p%)")
        else:                                   # unknown total: a busy bar
            self.progress_bar.setRange(0, 0)
            self.progress_bar.setFormat(f"{done:,}" if done else "")
        if message and not self.task.cancel_requested:
            self.message.setText(message)

    def _on_finished(self, status: str) -> None:
        self._set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if status == "completed" else 0)
        self.progress_bar.setFormat({"completed": "done", "stopped": "cancelled", "failed": "failed"}[status])
        if status == "completed":
            self.on_completed(self.task.result)
        elif status == "stopped":
            self.message.setText(self.task.message)
        else:
            self.message.setText("Failed: the engine's message follows.")
            self.error_box.setPlainText(self.task.message)
            self.error_box.show()
            self.fit_height()
        if self._close_when_done:
            self._close_when_done = False
            super().reject()

    def reject(self) -> None:
        """Close (Esc, the window's X): a running task is cancelled first, then the dialog closes."""
        if self.task.is_running():
            self._close_when_done = True
            self.cancel()
            return
        super().reject()

    def closeEvent(self, event) -> None:
        if self.task.is_running():
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)


# ---------------------------------------------------------------------------------------------------------------
class FetchDialog(_TaskDialog):
    """Get CodeXGLUE code-to-text (the Hub, or a local copy) into a folder; the form then uses it."""

    START_TEXT = "Fetch"

    def __init__(self, languages=("python",), engine_command: list[str] | None = None,
                 parent: QWidget | None = None):
        super().__init__(engine_command, parent)
        self.setWindowTitle("Get CodeXGLUE code-to-text")
        self.setObjectName("fetchDialog")
        self.intro.setText(
            "Downloads the CodeXGLUE code-to-text sets (the paper's train / valid / test splits, from the Hugging "
            f"Face dataset {CODEXGLUE_HUB_DATASET}) into one folder per language. Files already complete are skipped; "
            "a cancelled fetch resumes where it stopped.")
        grid = QGridLayout()
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(2)
        self.boxes: dict[str, QCheckBox] = {}
        for i, lang in enumerate(LANGUAGES):
            c = CODEXGLUE_COUNTS.get(lang, {})
            total = sum(c.values())
            b = QCheckBox(f"{lang}  ({total / 1000:,.1f}k examples)")
            b.setToolTip(f"{lang}: train / valid / test = {_fmt_counts(c)}")
            b.setChecked(lang in languages)
            b.toggled.connect(self._update_start)
            grid.addWidget(b, i // 2, i % 2)
            self.boxes[lang] = b
        langs_w = QWidget()
        langs_w.setLayout(grid)
        grid.setContentsMargins(0, 0, 0, 0)
        self.out_edit = QLineEdit(str(codexglue_dir()))
        self.out_edit.setObjectName("fetchOut")
        self.source_edit = QLineEdit()
        self.source_edit.setObjectName("fetchSource")
        self.source_edit.setPlaceholderText("empty = the Hugging Face Hub (needs network)")
        self.source_edit.setToolTip("A local copy to read instead of the Hub: the Hub repository's parquet files "
                                    "(SRC/{lang}/*.parquet), or one folder per language with train/valid/test "
                                    ".jsonl files (e.g. the original CodeXGLUE dataset/ folder)")
        self.fields.addRow("Languages", langs_w)
        self.fields.addRow("Output folder", _folder_row(self.out_edit, "Output folder", self))
        self.fields.addRow("Local copy", _folder_row(self.source_edit, "Local copy of the data set", self))
        self.resize(660, self.sizeHint().height())
        self._update_start()

    def languages(self) -> list[str]:
        return [lang for lang, b in self.boxes.items() if b.isChecked()]

    def set_languages(self, langs) -> None:
        for lang, b in self.boxes.items():
            b.setChecked(lang in langs)

    def _update_start(self) -> None:
        self.start_button.setEnabled(bool(self.languages()) and not self.task.is_running())

    def _set_running(self, running: bool) -> None:
        super()._set_running(running)
        if hasattr(self, "boxes"):
            self._update_start()

    def engine_args(self) -> list[str] | None:
        langs = self.languages()
        if not langs:
            self.set_problem("Tick at least one language.")
            return None
        out = self.out_edit.text().strip()
        args = ["data", "fetch", "codexglue", "--languages", ",".join(langs), "--jsonl"]
        if out:
            args += ["--out", str(Path(out).expanduser())]
        src = self.source_edit.text().strip()
        if src:
            args += ["--source", str(Path(src).expanduser())]
        return args

    def on_completed(self, result: dict) -> None:
        path = str(result.get("path") or self.out_edit.text().strip())
        counts = result.get("counts") or {}
        langs = [lang for lang in LANGUAGES if lang in counts] or self.languages()
        lines = [f"{lang}: {_fmt_counts(counts.get(lang) or {})}" for lang in langs]
        self.message.setText(f"Done: {path}\n" + "; ".join(lines) + " (train / valid / test).\n"
                             "The setup form now uses this folder and these languages.")
        self.use_corpus.emit(path, langs)


# ---------------------------------------------------------------------------------------------------------------
class BuildDialog(_TaskDialog):
    """Build a corpus from a source tree (tree-sitter; Python with ast), show its counts, offer it to the form."""

    START_TEXT = "Build"

    def __init__(self, language: str = "python", engine_command: list[str] | None = None,
                 parent: QWidget | None = None):
        super().__init__(engine_command, parent)
        self.setWindowTitle("Build a corpus from a source folder")
        self.setObjectName("buildDialog")
        self.intro.setText(
            "Extracts functions and methods with their documentation (Python docstrings, Javadoc, JSDoc, Go doc "
            "comments, PHPDoc, Ruby comments) from a source tree, applies CodeXGLUE's filters, removes duplicates "
            "and splits train / valid / test by file path. Tests, generated, binary and huge files are skipped.")
        self.src_edit = QLineEdit()
        self.src_edit.setObjectName("buildSource")
        self.src_edit.setPlaceholderText("the source tree to read")
        self.src_edit.textChanged.connect(self._update_default_out)
        self.lang_combo = QComboBox()
        self.lang_combo.addItems(list(LANGUAGES))
        self.lang_combo.setCurrentText(language if language in LANGUAGES else "python")
        self.lang_combo.currentTextChanged.connect(self._update_default_out)
        self.out_edit = QLineEdit()
        self.out_edit.setObjectName("buildOut")
        self.fields.addRow("Source folder", _folder_row(self.src_edit, "Source folder", self))
        self.fields.addRow("Language", self.lang_combo)
        self.fields.addRow("Output folder", _folder_row(self.out_edit, "Output folder", self))

        self.counts_label = QLabel()
        self.counts_label.setObjectName("buildCounts")
        self.counts_label.setTextFormat(Qt.RichText)
        self.counts_label.setWordWrap(True)
        self.counts_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.counts_label.hide()
        self.extra.addWidget(self.counts_label)
        self.use_button = self.buttons.addButton("Use this corpus", QDialogButtonBox.ActionRole)
        self.use_button.setObjectName("useCorpus")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        self._built: tuple[str, str] | None = None
        self.resize(660, self.sizeHint().height())
        self._update_default_out()

    def language(self) -> str:
        return self.lang_combo.currentText()

    def built(self) -> tuple[str, str] | None:
        """(folder, language) of the last corpus built."""
        return self._built

    def _update_default_out(self, *_):
        src = self.src_edit.text().strip()
        default = str(source_corpus_dir(src, self.language())) if src else ""
        self.out_edit.setPlaceholderText(f"default: {default}" if default else "default: the cache, named after "
                                         "the source folder")
        self._default_out = default

    def engine_args(self) -> list[str] | None:
        src = self.src_edit.text().strip()
        if not src:
            self.set_problem("Choose the source folder first.")
            return None
        if not Path(src).expanduser().is_dir():
            self.set_problem(f"{src}: folder not found.")
            return None
        self.counts_label.hide()
        self.use_button.setEnabled(False)
        self._built = None
        args = ["data", "build", str(Path(src).expanduser()), "--language", self.language(), "--jsonl"]
        out = self.out_edit.text().strip()
        if out:
            args += ["--out", str(Path(out).expanduser())]
        return args

    def on_completed(self, result: dict) -> None:
        path = str(result.get("path") or self.out_edit.text().strip() or self._default_out)
        counts = result.get("counts") or {}
        skipped = result.get("skipped") or {}
        total = sum(int(v or 0) for v in counts.values())
        self._built = (path, self.language())
        rows = "".join(f"<tr><td>{s}</td><td align='right'>&nbsp;{int(counts.get(s) or 0):,}</td></tr>"
                       for s in SPLITS)
        skip = ", ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in
                         sorted(skipped.items(), key=lambda kv: -int(kv[1] or 0))) or "none"
        self.counts_label.setText(
            f"<b>{total:,} {self.language()} pairs</b> in <code>{path}</code>"
            f"<table cellspacing='0' cellpadding='1'>{rows}</table>Skipped: {skip}")
        self.counts_label.show()
        self.fit_height()
        self.message.setText("Done." + ("" if total else " No pair passed the filters: nothing to train on."))
        self.use_button.setEnabled(total > 0)
        if total:
            self.use_button.setDefault(True)
            self.use_button.setFocus()

    def _use(self) -> None:
        if self._built:
            path, lang = self._built
            self.use_corpus.emit(path, [lang])
            self.accept()
