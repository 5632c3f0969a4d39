"""A one-line strip above the tabs: a message (always plain text: run text is untrusted), link buttons for what
to do next, and a close button. The window has three: the notice (export / open confirmations, hides itself), the
finished-run banner (stays until closed) and the live-run bar (a run trains while another is shown)."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolButton, QWidget

TONES = {
    "info": "background: #e3f2fd; border: 1px solid #90caf9;",
    "success": "background: #e8f5e9; border: 1px solid #81c784;",
    "warning": "background: #fff3e0; border: 1px solid #ffb74d;",
    "error": "background: #ffebee; border: 1px solid #e57373;",
}


class Banner(QFrame):
    """`show_message(text, links=[(label, callback)], tone, timeout_ms)`; `closed` when the user closes it."""

    closed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(name)
        self.label = QLabel()
        self.label.setObjectName(f"{name}Text")
        self.label.setTextFormat(Qt.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)   # never widens the window
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Close")
        self.close_button.clicked.connect(self.dismiss)
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(8, 3, 4, 3)
        self._lay.addWidget(self.label, 1)
        self._links: list[QPushButton] = []
        self._lay.addWidget(self.close_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_message(self, text: str, links: list[tuple[str, Callable[[], object]]] = (), tone: str = "info",
                     timeout_ms: int | None = None) -> None:
        self.label.setText(text)
        for b in self._links:
            self._lay.removeWidget(b)
            b.deleteLater()
        self._links = []
        for i, (label, fn) in enumerate(links):
            b = QPushButton(label)
            b.setObjectName(f"{self.objectName()}_{label.replace(' ', '_').lower()}")
            b.setCursor(Qt.PointingHandCursor)
            b.clicked.connect(lambda _c=False, f=fn: f())
            self._lay.insertWidget(1 + i, b)
            self._links.append(b)
        self.setStyleSheet(f"QFrame#{self.objectName()} {{ {TONES.get(tone, TONES['info'])} border-radius: 3px; }}")
        self.show()
        if timeout_ms:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    def text(self) -> str:
        return self.label.text()

    def link(self, label: str) -> QPushButton | None:
        return next((b for b in self._links if b.text() == label), None)

    def links(self) -> list[str]:
        return [b.text() for b in self._links]

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()
        self.closed.emit()
