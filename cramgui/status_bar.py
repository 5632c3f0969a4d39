"""The status line: budget progress bar + step, loss, tokens/s, ETA, device, state (from RunState.status)."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from .formatting import DEFAULT_COLOUR, hms, loss, rate, status_colour


WARNING_STYLE = "QLabel { background: #ffebee; border: 1px solid #c62828; border-radius: 3px; padding: 0 6px; }"


class StatusPanel(QWidget):
    """Permanent status-bar widget. `update_status(status, state_override)` is called on a throttled timer."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 4, 0)
        lay.setSpacing(14)
        self.run_label = QLabel()
        self.run_label.setToolTip("The run shown")
        self.run_label.hide()
        self.state_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(260)
        self.progress.setTextVisible(True)
        self.step_label = QLabel()
        self.loss_label = QLabel()
        self.tps_label = QLabel()
        self.eta_label = QLabel()
        self.device_label = QLabel()
        for w in (self.run_label, self.state_label, self.progress, self.step_label, self.loss_label, self.tps_label,
                  self.eta_label, self.device_label):
            lay.addWidget(w)
        self.progress.setToolTip("Training budget used / total (dev-evaluation pauses excluded)")
        self.eta_label.setToolTip("Estimated time left (training budget, from progress)")
        self.update_status({})

    def update_status(self, st: dict, state_override: str | None = None) -> None:
        state = state_override or st.get("state") or "idle"
        color = status_colour(state) or DEFAULT_COLOUR
        self.state_label.setText(f"<b style='color:{color}'>{state}</b>")
        budget = st.get("budget_seconds")
        elapsed = st.get("elapsed") or 0.0
        progress = st.get("progress")
        if progress is None and budget:
            progress = elapsed / budget
        progress = min(max(float(progress or 0.0), 0.0), 1.0)
        self.progress.setValue(int(round(progress * 1000)))
        if budget:
            self.progress.setFormat(f"budget {hms(elapsed)} / {hms(budget)}  ({progress:.0%})")
        else:
            self.progress.setFormat("budget –")
        self.step_label.setText(f"step {int(st.get('step') or 0):,}")
        self.loss_label.setText(f"loss {loss(st.get('loss'))}")
        self.tps_label.setText(f"{rate(st.get('tokens_per_s'))} tok/s")
        remaining = st.get("remaining")
        self.eta_label.setText(f"left {hms(remaining)} · ETA {hms(st.get('eta_seconds'))}")
        self.device_label.setText(f"device {st.get('device') or '–'}")

    def set_warning(self, on: bool) -> None:
        """A framed, tinted state label (a followed run that went stale)."""
        style = WARNING_STYLE if on else ""
        if self.state_label.styleSheet() != style:
            self.state_label.setStyleSheet(style)

    def is_warning(self) -> bool:
        return bool(self.state_label.styleSheet())

    def set_run(self, name: str) -> None:
        if self.run_label.text() != name:
            self.run_label.setText(name)
            self.run_label.setVisible(bool(name))

    def text(self) -> str:
        """Everything shown, as plain text (tests, accessibility)."""
        parts = [self.run_label.text(), self.state_label.text(), self.progress.text()]
        parts += [w.text() for w in (self.step_label, self.loss_label, self.tps_label, self.eta_label,
                                     self.device_label)]
        return " | ".join(parts)
