"""The status line: budget progress bar + step, loss, tokens/s, ETA, device, state (from RunState.status)."""
from __future__ import annotations

import math
import signal

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


def fmt_hms(seconds) -> str:
    if seconds is None:
        return "–"
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(s):
        return "–"
    s = int(round(max(0.0, s)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def exit_text(code: int | None) -> str:
    """'exited with status 3' / 'was killed by SIGKILL (exit status -9)'."""
    if code is None:
        return "did not start"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit status {code})"
    return f"exited with status {code}"


def fmt_rate(v) -> str:
    if v is None:
        return "–"
    v = float(v)
    if not math.isfinite(v):
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def fmt_loss(v) -> str:
    if v is None or not math.isfinite(float(v)):
        return "–"
    return f"{float(v):.4g}"


STATE_COLORS = {"running": "#1565c0", "completed": "#2e7d32", "stopped": "#ef6c00", "failed": "#c62828",
                "stopping…": "#ef6c00", "exited": "#c62828", "was": "#c62828", "interrupted": "#8d6e63",
                "following": "#1565c0", "stale": "#b71c1c"}
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
        color = STATE_COLORS.get(state.split()[0], "#555")
        self.state_label.setText(f"<b style='color:{color}'>{state}</b>")
        budget = st.get("budget_seconds")
        elapsed = st.get("elapsed") or 0.0
        progress = st.get("progress")
        if progress is None and budget:
            progress = elapsed / budget
        progress = min(max(float(progress or 0.0), 0.0), 1.0)
        self.progress.setValue(int(round(progress * 1000)))
        if budget:
            self.progress.setFormat(f"budget {fmt_hms(elapsed)} / {fmt_hms(budget)}  ({progress:.0%})")
        else:
            self.progress.setFormat("budget –")
        self.step_label.setText(f"step {int(st.get('step') or 0):,}")
        self.loss_label.setText(f"loss {fmt_loss(st.get('loss'))}")
        self.tps_label.setText(f"{fmt_rate(st.get('tokens_per_s'))} tok/s")
        remaining = st.get("remaining")
        self.eta_label.setText(f"left {fmt_hms(remaining)} · ETA {fmt_hms(st.get('eta_seconds'))}")
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
