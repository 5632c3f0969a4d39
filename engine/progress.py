"""A human progress line on stderr (when events are not streamed as JSON lines): budget bar, ETA, loss, and the
final evaluation's decoding. Writing it never raises: a dead reader (a closed terminal, a console that crashed)
silences it, the run goes on (the event file is the source of truth)."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

from .contract.fmt import hms as fmt_seconds
from .contract.events import number as value_of
from .contract.fmt import number


def _num(v, spec: str = ".3f") -> str:
    return number(v, spec)


class ProgressLine:
    def __init__(self, stream=None, width: int = 24):
        self._stream = stream            # None: whatever sys.stderr is when a line is written
        self.width = width
        try:
            self.tty = bool(self.stream.isatty())
        except (OSError, ValueError, AttributeError):
            self.tty = False
        self._last = 0.0
        self._last_decode = 0.0
        self.budget = None
        self.dead = False

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def _print(self, text: str, final: bool = False) -> None:
        if self.dead:
            return
        try:
            if self.tty:
                self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError, AttributeError):
            self.dead = True  # nobody reads it any more (or there is no stderr at all)

    def on_event(self, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "started":
            self.budget = ev.get("budget_seconds")
            self._print(f"cram: {ev.get('device')}, {ev.get('n_params', 0) / 1e6:.1f}M parameters, "
                        f"{ev.get('n_train')} training examples, budget {fmt_seconds(self.budget)}", final=True)
        elif kind == "step":
            now = time.monotonic()
            if now - self._last < (0.5 if self.tty else 10.0):
                return
            self._last = now
            p = ev.get("progress") or 0.0
            filled = int(p * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            remaining = (self.budget or 0) - (ev.get("elapsed") or 0)
            loss = ev.get("loss")
            tps = ev.get("tokens_per_s")
            loss_s = f"loss {loss:.3f} " if loss is not None else ""
            self._print(f"[{bar}] {p * 100:5.1f}% step {ev.get('step')} {loss_s}{tps or 0:,.0f} tok/s "
                        f"ETA {fmt_seconds(remaining)}")
        elif kind == "eval":
            self._print(f"dev @ step {ev.get('step')}: loss {_num(ev.get('dev_loss'))} BLEU-4 "
                        f"{_num(ev.get('dev_bleu'), '.2f')}{' (best)' if ev.get('best') else ''} "
                        f"[{_num(ev.get('eval_seconds'), '.1f')}s]", final=True)
        elif kind == "checkpoint":
            pass
        elif kind == "progress" and ev.get("task") == "decode":
            now = time.monotonic()
            done, total = ev.get("done") or 0, ev.get("total") or 0
            if done != total and now - self._last_decode < (0.5 if self.tty else 10.0):
                return
            self._last_decode = now
            eta = ev.get("eta_seconds")
            self._print(f"{ev.get('language')} {ev.get('split')} decoding {done} / {total}"
                        + (f" ETA {fmt_seconds(eta)}" if eta is not None and done != total else ""))
        elif kind == "result":
            b, fl = value_of(ev.get("bleu4")), value_of(ev.get("floor_bleu4"))
            floor = f", floor {fl:.2f}, {b - fl:+.2f} above it" if b is not None and fl is not None else ""
            self._print(f"{ev.get('language')} {ev.get('split')}: BLEU-4 {_num(ev.get('bleu4'), '.2f')}{floor} "
                        f"(n={ev.get('n')}, {_num(ev.get('decode_seconds'), '.1f')}s)", final=True)
        elif kind in ("log",):
            self._print(f"{ev.get('level')}: {ev.get('message')}", final=True)
        elif kind == "error":
            self._print(f"error: {ev.get('message')}\n  hint: {ev.get('hint')}", final=True)
        elif kind == "done":
            self._print(f"done ({ev.get('status')}): step {ev.get('step')}, trained "
                        f"{fmt_seconds(ev.get('elapsed'))}, dev evaluation {fmt_seconds(ev.get('eval_seconds'))}",
                        final=True)


def emitter(writer, progress: ProgressLine | None = None, mirrors=None) -> Callable:
    """The engine's `emit(name, **fields)`: write the event through `writer` (an EventWriter: fields are checked
    against engine.contract.events), show it on the progress line, if any, and hand it to the mirrors
    (metrics.csv, TensorBoard: engine.mirrors, never raising). Returns the event as written."""
    def emit(event: str, **fields) -> dict:
        ev = writer.emit(event, **fields)
        if progress:
            progress.on_event(ev)
        if mirrors is not None:
            mirrors.on_event(ev)
        return ev
    return emit
