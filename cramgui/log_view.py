"""The Log tab: every line with the time it arrived and a level (cmd, info, warning, error, stderr), a level
filter and a search box (Enter / F3 finds the next match). Plain text only."""
from __future__ import annotations

import collections
import re
import time

from PySide6.QtGui import QFontDatabase, QTextDocument
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

LOG_MAX_LINES = 20000
LEVELS = ("all", "warnings and errors", "errors")
_ERROR = re.compile(r"\b(error|traceback|exception|failed|killed)\b|^\[error\]", re.I)
_WARN = re.compile(r"\bwarn(ing)?\b|^\[warning\]", re.I)


def level_of(line: str) -> str:
    if line.startswith("$ "):
        return "cmd"
    if _ERROR.search(line):
        return "error"
    if _WARN.search(line):
        return "warning"
    return "info"


class LogView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.lines: collections.deque[tuple[float, str, str]] = collections.deque(maxlen=LOG_MAX_LINES)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setObjectName("logText")
        self.text.setMaximumBlockCount(LOG_MAX_LINES)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.level = QComboBox()
        self.level.setObjectName("logLevel")
        self.level.addItems(LEVELS)
        self.level.currentIndexChanged.connect(lambda _i: self._render())
        self.search = QLineEdit()
        self.search.setObjectName("logSearch")
        self.search.setPlaceholderText("Search the log (Enter: next match)")
        self.search.setClearButtonEnabled(True)
        self.search.returnPressed.connect(self.find_next)
        self.search.textChanged.connect(lambda _t: self._count())
        self.matches = QLabel()
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("show"))
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.matches)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(self.text, 1)

    def _shown(self, level: str) -> bool:
        i = self.level.currentIndex()
        return i == 0 or (i == 1 and level in ("warning", "error")) or (i == 2 and level == "error")

    @staticmethod
    def _format(entry: tuple[float, str, str]) -> str:
        t, level, line = entry
        return f"{time.strftime('%H:%M:%S', time.localtime(t))} {level:<7} {line}"

    def append_lines(self, lines: list[str]) -> None:
        now = time.time()
        out = []
        for raw in lines:
            for line in str(raw).split("\n"):
                entry = (now, level_of(line), line)
                self.lines.append(entry)
                if self._shown(entry[1]):
                    out.append(self._format(entry))
        if out:
            self.text.appendPlainText("\n".join(out))

    def _render(self) -> None:
        self.text.setPlainText("\n".join(self._format(e) for e in self.lines if self._shown(e[1])))
        self._count()

    def _count(self) -> None:
        q = self.search.text()
        self.matches.setText(f"{self.text.toPlainText().lower().count(q.lower())} matches" if q else "")

    def find_next(self) -> bool:
        q = self.search.text()
        if not q:
            return False
        if self.text.find(q):
            return True
        cur = self.text.textCursor()                   # wrap around
        cur.movePosition(cur.MoveOperation.Start)
        self.text.setTextCursor(cur)
        return self.text.find(q, QTextDocument.FindFlag(0))

    def messages(self) -> list[str]:
        """Every line kept, without time and level."""
        return [line for _t, _level, line in self.lines]

    def toPlainText(self) -> str:
        """What the log shows (timestamps and levels included)."""
        return self.text.toPlainText()

    def clear(self) -> None:
        self.lines.clear()
        self.text.clear()
