"""The detail pane of the Samples view: BLEU, reference and prediction with the words they share highlighted, and
the example's code (wrapped, syntax-coloured) or a note that the run did not store it. Plain text only: run text
is untrusted, so colours come from QTextCharFormat, never from HTML."""
from __future__ import annotations

import re

from PySide6.QtGui import QColor, QFont, QFontDatabase, QSyntaxHighlighter, QTextCharFormat, QTextDocument, QTextOption
from PySide6.QtWidgets import QFormLayout, QLabel, QPlainTextEdit, QSizePolicy, QVBoxLayout, QWidget

from .code_highlight import CodeHighlighter
from .formatting import bleu as bleu_text

WORD = re.compile(r"\w+")
SHARED_COLOUR = "#c8e6c9"
CODE_NOT_STORED = "code: not stored for this example"
CODE_NOT_STORED_WHY = ("The run keeps the source code of its eval.samples examples only (the `samples` events); "
                       "its prediction files hold the prediction and the reference of every example.")


def words(text: str) -> set[str]:
    """The words of a text, lower-cased, on word boundaries."""
    return {w.lower() for w in WORD.findall(text or "")}


def shared_spans(text: str, other: set[str]) -> list[tuple[int, int]]:
    """(start, length) of each word of `text` that is also in `other` (lower-cased words)."""
    return [(m.start(), m.end() - m.start()) for m in WORD.finditer(text) if m.group().lower() in other]


class SharedWordsHighlighter(QSyntaxHighlighter):
    """Marks, in a plain-text document, the words that also occur in `other` (set by set_other)."""

    def __init__(self, document: QTextDocument):
        super().__init__(document)
        self.other: set[str] = set()
        self.format = QTextCharFormat()
        self.format.setBackground(QColor(SHARED_COLOUR))
        self.format.setFontWeight(QFont.Weight.DemiBold)

    def set_other(self, other: set[str]) -> None:
        self.other = other
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:  # noqa: N802
        for start, length in shared_spans(text, self.other):
            self.setFormat(start, length, self.format)


def _text_box(lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit(readOnly=True)
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    box.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 12)
    box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return box


class SampleDetail(QWidget):
    """`show(row, language)`: row {idx, bleu, reference, prediction, code} or None (an empty pane)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.bleu_view = QLabel()
        self.reference_view = _text_box(3)
        self.prediction_view = _text_box(3)
        self.reference_view.setToolTip("Words shared with the generated summary are highlighted")
        self.prediction_view.setToolTip("Words shared with the reference are highlighted")
        self.reference_marks = SharedWordsHighlighter(self.reference_view.document())
        self.prediction_marks = SharedWordsHighlighter(self.prediction_view.document())
        self.code_note = QLabel("code:")
        self.code_note.setWordWrap(True)
        self.code_view = QPlainTextEdit(readOnly=True)
        self.code_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.code_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.code_view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.code_colours = CodeHighlighter(self.code_view.document())

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("BLEU-4:", self.bleu_view)
        form.addRow("reference:", self.reference_view)
        form.addRow("generated:", self.prediction_view)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.code_note)
        lay.addWidget(self.code_view, 1)
        self.show_row(None)

    def show_row(self, row: dict | None, language: str = "") -> None:
        row = row or {}
        reference, prediction = str(row.get("reference") or ""), str(row.get("prediction") or "")
        self.bleu_view.setText(bleu_text(row.get("bleu")))
        self.reference_marks.other = words(prediction)       # set before the text: one highlighting pass
        self.prediction_marks.other = words(reference)
        self.reference_view.setPlainText(reference)
        self.prediction_view.setPlainText(prediction)
        code = row.get("code")
        self.code_colours.set_language(language)
        self.code_view.setPlainText(code if isinstance(code, str) else "")
        self._stored = isinstance(code, str) or not row
        self.code_note.setText("code:" if self._stored else CODE_NOT_STORED)
        self.code_view.setPlaceholderText("" if self._stored else CODE_NOT_STORED_WHY)

    def code_stored(self) -> bool:
        """False while the pane shows an example whose code the run did not store."""
        return self._stored
