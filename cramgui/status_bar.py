"""The status line: state and phase, budget progress bar (test decoding `k / N` on its own bar), step, loss,
tokens/s, total ETA (training left + the evaluation still to come), device (from RunState.status).

Every label elides instead of overflowing and the bars shrink, so the panel fits a 1024 px window beside the
status bar's own messages; the full text is in each widget's tooltip and in `text()`.

MessageBar is the window's status bar: while a message shows, the panel gives it room (down to its core labels),
and a message still too long has its longest path elided in the middle (the file name stays readable), the whole
text in the bar's tooltip and in `full_message()`.
"""
from __future__ import annotations

import re
import time

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QProgressBar, QSizePolicy, QStatusBar, QWidget

from .formatting import DEFAULT_COLOUR, hms, loss, rate, status_colour

WARNING_STYLE = "QLabel { background: #ffebee; border: 1px solid #c62828; border-radius: 3px; padding: 0 6px; }"


class ElidedLabel(QLabel):
    """A plain-text label that elides its text (…) when narrower than it; never asks for more than `min_chars`
    characters of room."""

    def __init__(self, text: str = "", min_chars: int = 4, parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setTextFormat(Qt.PlainText)
        self.min_chars = min_chars
        self.colour: str | None = None
        self.bold = False
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
        self.elide = True

    def set_style(self, colour: str | None, bold: bool = False) -> None:
        if (colour, bold) != (self.colour, self.bold):
            self.colour, self.bold = colour, bold
            f = self.font()
            f.setBold(bold)
            self.setFont(f)
            pal = self.palette()
            pal.setColor(QPalette.WindowText, QColor(colour) if colour else self.style().standardPalette().color(
                QPalette.WindowText))
            self.setPalette(pal)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        if not self.elide:
            return super().minimumSizeHint()
        fm = self.fontMetrics()
        m = self.contentsMargins()
        return QSize(fm.horizontalAdvance("x" * self.min_chars) + m.left() + m.right(),
                     super().minimumSizeHint().height())

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        r = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.ElideRight, r.width())
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(r, int(self.alignment() | Qt.AlignVCenter), text)

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()


def _min_width(w: QWidget) -> int:
    """The width a layout gives a widget at the least (its minimum size, else its minimum size hint)."""
    return w.minimumWidth() or w.minimumSizeHint().width()


def _bar(sample: str, tip: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setTextVisible(True)
    bar.setFixedWidth(bar.fontMetrics().horizontalAdvance(sample) + 24)     # its text on one line, always
    bar.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
    bar.setToolTip(tip)
    return bar


class StatusPanel(QWidget):
    """Permanent status-bar widget. `update_status(status, state_override)` is called on a throttled timer."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # never wider than its size hint (its stretchy labels would otherwise make it take half of a message's room)
        self.setSizePolicy(QSizePolicy.Maximum, QSizePolicy.Preferred)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 4, 0)
        lay.setSpacing(10)
        self.run_label = ElidedLabel(min_chars=6)
        self.run_label.setToolTip("The run shown")
        self.run_label.hide()
        self.state_label = ElidedLabel(min_chars=6)
        self.phase_label = ElidedLabel(min_chars=8)
        self.phase_label.setObjectName("phaseLabel")
        self.progress = _bar("10:00:00 / 10:00:00 (100%)",
                             "Training budget used / total (dev-evaluation pauses excluded)")
        self.decode_bar = _bar("10,000 / 10,000 · 0:00:00",
                               "Final evaluation: examples decoded / examples of the split, and its ETA")
        self.decode_bar.setObjectName("decodeBar")
        self.decode_bar.hide()
        self.step_label = ElidedLabel(min_chars=5)
        self.loss_label = ElidedLabel(min_chars=5)
        self.tps_label = ElidedLabel(min_chars=5)
        self.eta_label = ElidedLabel(min_chars=8)
        self.device_label = ElidedLabel(min_chars=5)
        self.widgets = (self.run_label, self.state_label, self.phase_label, self.progress, self.decode_bar,
                        self.step_label, self.loss_label, self.tps_label, self.eta_label, self.device_label)
        for w in (self.step_label, self.loss_label, self.tps_label, self.eta_label, self.device_label):
            w.elide = False                   # short texts: shown whole (the run name and the phase elide)
        for w in self.widgets:
            lay.addWidget(w, 1 if w in (self.run_label, self.phase_label) else 0)
        self.eta_label.setToolTip("Estimated time left: training budget + the final evaluation still to come")
        self.message_width = 0            # px a status-bar message wants beside the panel (MessageBar sets it)
        self.update_status({})

    def sizeHint(self) -> QSize:  # noqa: N802
        """Room for the usual texts, not for every label at full length: the status bar's messages need some;
        while one shows, no more than the bar leaves beside it (never under the core labels)."""
        lay = self.layout()
        w = sum(x.sizeHint().width() + lay.spacing() for x in self.widgets if not x.isHidden()
                or x in self._optional())
        w = min(w, 760)
        bar = self.parentWidget()
        if self.message_width and bar is not None:
            w = max(self.minimumSizeHint().width(), min(w, bar.width() - self.message_width))
        return QSize(w, super().sizeHint().height())

    def give_room(self, message_width: int) -> None:
        """Leave `message_width` px of the status bar to its message (0: the message is gone); called again when
        the bar's width changes."""
        self.message_width = message_width
        self._fit()                            # optional labels give way first, so the layout can shrink it
        self.updateGeometry()

    def update_status(self, st: dict, state_override: str | None = None) -> None:
        state = state_override or st.get("state") or "idle"
        self.state_label.setText(state)
        self.state_label.set_style(status_colour(state) or DEFAULT_COLOUR, bold=True)
        self.state_label.setToolTip(state)
        phase = st.get("phase_text")
        if phase and st.get("phase_message") and phase.split(":")[0] == "starting":
            phase = f"{phase} ({st['phase_message']})"
        decode = st.get("decode")
        if decode and st.get("phase") == "test_decode":
            lang = decode.get("language") or ""
            phase = f"test decoding {lang} {decode.get('done', 0):,} / {decode.get('total', 0):,}".replace("  ", " ")
        # while the run goes on: its own state has no end yet and no note says it was interrupted or is stale
        note = (state_override or "").split()
        live = not note or note[0] in ("running", "following", "starting", "stopping…")
        show_phase = bool(phase) and st.get("state") == "running" and live
        self.phase_label.setText(phase or "")
        self.phase_label.setToolTip(phase or "")
        self.phase_label.setVisible(show_phase)

        budget = st.get("budget_seconds")
        elapsed = st.get("elapsed") or 0.0
        progress = st.get("progress")
        if progress is None and budget:
            progress = elapsed / budget
        progress = min(max(float(progress or 0.0), 0.0), 1.0)
        self.progress.setValue(int(round(progress * 1000)))
        if budget:
            self.progress.setFormat(f"{hms(elapsed)} / {hms(budget)} ({progress:.0%})")
        else:
            self.progress.setFormat("budget –")
        if decode and decode.get("total") and live and st.get("state") == "running":
            frac = min(1.0, decode["done"] / decode["total"])
            self.decode_bar.setValue(int(round(frac * 1000)))
            eta = decode.get("eta_seconds")
            self.decode_bar.setFormat(f"{decode['done']:,} / {decode['total']:,}"
                                      + (f" · {hms(eta)}" if eta is not None and frac < 1 else ""))
            self.decode_bar.setVisible(True)
        else:
            self.decode_bar.setVisible(False)
        self.step_label.setText(f"step {int(st.get('step') or 0):,}")
        self.loss_label.setText(f"loss {loss(st.get('loss'))}")
        self.tps_label.setText(f"{rate(st.get('tokens_per_s'))} tok/s")
        going = live and st.get("state") not in ("failed", "stopped", "pruned")
        eta = st.get("eta_seconds") if going else None        # nothing to wait for when the run is not going on
        ev = st.get("eval_eta") if going else None
        text = f"ETA {hms(eta)}"
        if ev and st.get("train_eta"):
            text += f" (incl. eval ~{hms(ev)})"
        self.eta_label.setText(text)
        self.eta_label.setToolTip(f"Training left {hms(st.get('train_eta'))}; final evaluation still to come "
                                  f"~{hms(ev)}; budget left {hms(st.get('remaining'))}")
        self.device_label.setText(f"device {st.get('device') or '–'}")
        for w in (self.step_label, self.loss_label, self.tps_label, self.device_label):
            w.setToolTip(w.text())
        self._fit()

    # the labels given up first when the bar is short of room (their values stay in text() and the tooltips)
    def _optional(self) -> tuple[QWidget, ...]:
        return (self.device_label, self.tps_label, self.loss_label)

    def _fit(self) -> None:
        """Hide the optional labels that do not fit the width the panel has, last-listed kept longest."""
        lay = self.layout()
        room = self.width()
        bar = self.parentWidget()
        if self.message_width and bar is not None:
            room = min(room, bar.width() - self.message_width)
        core = [w for w in self.widgets if w not in self._optional() and not w.isHidden()]
        used = sum(_min_width(w) for w in core) + lay.spacing() * len(core)
        used += lay.contentsMargins().left() + lay.contentsMargins().right()
        for w in reversed(self._optional()):
            need = w.sizeHint().width() + lay.spacing()
            fits = used + need <= room
            if fits:
                used += need
            if w.isHidden() == fits:
                w.setVisible(fits)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        """The core labels at their narrowest: the optional ones are hidden rather than squeezed."""
        hint = super().minimumSizeHint()
        lay = self.layout()
        w = sum(_min_width(x) + lay.spacing() for x in self.widgets if x not in self._optional() and not x.isHidden())
        return QSize(w + 4, hint.height())

    def set_warning(self, on: bool) -> None:
        """A framed, tinted state label (a followed run that went stale)."""
        style = WARNING_STYLE if on else ""
        if self.state_label.styleSheet() != style:
            self.state_label.setStyleSheet(style)

    def is_warning(self) -> bool:
        return self.state_label.styleSheet() == WARNING_STYLE

    def set_run(self, name: str) -> None:
        if self.run_label.text() != name:
            self.run_label.setText(name)
            self.run_label.setToolTip(f"The run shown: {name}")
            self.run_label.setVisible(bool(name))

    def text(self) -> str:
        """Everything the panel says, as plain text (tests, accessibility; optional labels hidden for room
        included)."""
        parts = [self.run_label.text(), self.state_label.text()]
        if self.phase_label.isVisibleTo(self):
            parts.append(self.phase_label.text())
        parts.append(self.progress.text())
        if self.decode_bar.isVisibleTo(self):
            parts.append(self.decode_bar.text())
        parts += [w.text() for w in (self.step_label, self.loss_label, self.tps_label, self.eta_label,
                                     self.device_label)]
        return " | ".join(parts)


# -- the status bar's messages ---------------------------------------------------------------------------------
_PATH = re.compile(r"(?:~|[A-Za-z]:)?[/\\][^\s]+")
MESSAGE_MARGIN = 6 + 2 + 24 + 4     # beside a message: 6 px left, 2 px before the panel, the size grip, slack


def elide_message(text: str, fm: QFontMetrics, width: int) -> str:
    """`text` fitted into `width` px: unchanged when it fits, else its longest path elided in the middle (…), and
    the end of the text elided when even that is not enough."""
    if fm.horizontalAdvance(text) <= width:
        return text
    paths = sorted(_PATH.finditer(text), key=lambda m: len(m.group()), reverse=True)
    if paths:
        m = paths[0]
        head, path, tail = text[:m.start()], m.group(), text[m.end():]
        cut = max(path.rfind("/"), path.rfind("\\"))
        folder, name = path[:cut], path[cut:]                  # name keeps its separator: "/results.csv"
        room = width - fm.horizontalAdvance(head + name + tail)
        folder = fm.elidedText(folder, Qt.ElideMiddle, room) if room > fm.horizontalAdvance("/…/") else "…"
        text = head + folder + name + tail
        if fm.horizontalAdvance(text) <= width:
            return text
    return fm.elidedText(text, Qt.ElideRight, width)


class MessageBar(QStatusBar):
    """A status bar whose temporary messages stay readable in a narrow window (see the module docstring)."""

    def __init__(self, panel: StatusPanel | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.panel = panel
        self._full = ""
        self._until: float | None = None
        if panel is not None:
            self.addPermanentWidget(panel)   # no stretch: messages keep the rest of the bar
            panel.installEventFilter(self)   # the panel moved or resized: the message is fitted again
        self.messageChanged.connect(self._on_changed)

    def full_message(self) -> str:
        return self._full

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802
        self._full = text or ""
        self._until = time.monotonic() + timeout / 1000 if timeout > 0 else None
        self._fit(timeout, force=True)

    def message_rect_width(self) -> int:
        """The width QStatusBar draws its message in: up to the panel (or the size grip)."""
        right = self.width() - 12
        if self.panel is not None and self.panel.isVisible():
            right = min(right, self.panel.x() - 2)
        return max(0, right - 6)

    def _fit(self, timeout: int, force: bool = False) -> None:
        text = self._full
        if self.panel is not None:
            # what the bar spends beside the message and the panel (margins, spacing, size grip), as laid out now
            overhead = self.width() - self.message_rect_width() - (self.panel.width() if self.panel.isVisible() else 0)
            overhead = max(overhead, MESSAGE_MARGIN)
            self.panel.give_room(self.fontMetrics().horizontalAdvance(text) + overhead if text else 0)
            self.layout().activate()           # the panel's new width now, so the message is fitted to it
        self._show_fitted(timeout, force)

    def _show_fitted(self, timeout: int, force: bool = False) -> None:
        text = self._full
        shown = elide_message(text, self.fontMetrics(), self.message_rect_width()) if text else ""
        self.setToolTip(text if shown != text else "")
        if force or shown != self.currentMessage():     # (showMessage restarts the timeout)
            super().showMessage(shown, timeout)

    def _time_left(self) -> int | None:
        """ms the message has left (0: no timeout), None when it is over."""
        if self._until is None:
            return 0
        left = int((self._until - time.monotonic()) * 1000)
        return left if left > 0 else None

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self.panel and event.type() in (QEvent.Resize, QEvent.Move) and self._full:
            left = self._time_left()
            if left is not None:
                self._show_fitted(left)
        return False

    def _on_changed(self, text: str) -> None:
        if not text and self._full:           # timed out or cleared
            self._full = ""
            self._until = None
            self.setToolTip("")
            if self.panel is not None:
                self.panel.give_room(0)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._full:
            left = self._time_left()
            if left is not None:
                self._fit(left)


def install_message_bar(window: QMainWindow, panel: StatusPanel) -> MessageBar:
    """The window's status bar becomes a MessageBar holding `panel` as its permanent widget."""
    bar = MessageBar(panel)
    window.setStatusBar(bar)
    return bar
