"""The run card: what the run is and what it has used so far, in one wrapped line above the training plots.

Model kind and size, parameters, training examples, device and precision (and ranks), epoch, tokens seen, and on
CUDA the peak GPU memory (the step events' max_memory_allocated / max_memory_reserved). From RunState.card();
refreshed at most twice a second. Plain text only (the values come from a run folder).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.contract.events import number

from .formatting import DASH, count, size_bytes
from .run_state import RunState

REFRESH_MS = 500


def card_items(card: dict) -> list[tuple[str, str]]:
    """(label, value) of every known entry of RunState.card(), in reading order."""
    items: list[tuple[str, str]] = []
    if card.get("model"):
        items.append(("model", str(card["model"])))
    if card.get("parameters") is not None:
        items.append(("parameters", count(card["parameters"])))
    if card.get("train_examples") is not None:
        items.append(("training examples", f"{int(card['train_examples']):,}"))
    if card.get("device"):
        dev = str(card["device"])
        if card.get("precision"):
            dev += f" · {card['precision']}"
        ranks = number(card.get("ranks"))
        if ranks and ranks > 1:
            dev += f" · {int(ranks)} ranks"
        items.append(("device", dev))
    if card.get("epoch") is not None:
        items.append(("epoch", f"{card['epoch']:g}"))
    if card.get("tokens_seen") is not None:
        items.append(("tokens seen", count(card["tokens_seen"])))
    if card.get("peak_allocated") is not None or card.get("peak_reserved") is not None:
        items.append(("peak GPU memory", f"{size_bytes(card.get('peak_allocated'))} allocated, "
                                         f"{size_bytes(card.get('peak_reserved'))} reserved"))
    if card.get("resumed"):
        items.append(("resumed", f"{card['resumed']}×"))
    return items


class RunCard(QWidget):
    """One wrapped line of the run's identity and usage; hidden while nothing is known."""

    def __init__(self, state: RunState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("runCard")
        self.label = QLabel()
        self.label.setObjectName("runCardText")
        self.label.setTextFormat(Qt.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.label.setStyleSheet("color: #333;")
        self.label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 0)
        lay.addWidget(self.label)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        for sig in (state.progressed, state.started, state.finished, state.data_report):
            sig.connect(self._later)
        state.reset_signal.connect(self.refresh)
        self.refresh()

    def _later(self, *_):
        if not self._timer.isActive():
            self._timer.start()

    def items(self) -> list[tuple[str, str]]:
        return card_items(self.state.card())

    def refresh(self) -> None:
        self._timer.stop()
        items = self.items()
        text = "   ·   ".join(f"{k} {v}" for k, v in items if v and v != DASH)
        self.label.setText(text)
        self.label.setToolTip("\n".join(f"{k}: {v}" for k, v in items))
        self.setVisible(bool(items))

    def text(self) -> str:
        return self.label.text()
