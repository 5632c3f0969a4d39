"""Everything one run has streamed, as plain data plus Qt signals.

`RunState` ingests engine events (the dicts of `engine.contract.events`) from a live worker or from a run directory
being replayed; the views (plots, results, samples, status line) only observe it. Step events, by far the most frequent,
go into growable numpy columns (`Series`) in batches: `ingest_many` of a burst costs a few numpy calls and emits a
single `progressed` signal.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.contract.events import number
from engine.contract.rundir import CONFIG, fold_status, read_results, read_samples

from .tailer import replay

STEP_COLUMNS = ("step", "elapsed", "loss", "lr", "tokens_per_s", "progress", "grad_norm", "mfu", "tokens", "epoch",
                "max_memory_allocated", "max_memory_reserved")
# what each phase (engine.contract.events.PHASES) is called in the status line
PHASE_TEXT = {"starting": "starting: importing", "loading_data": "starting: loading data",
              "tokenizer": "starting: training the tokenizer", "model": "starting: building the model",
              "compiling": "starting: compiling", "training": "training", "dev_eval": "dev evaluation",
              "checkpointing": "checkpointing", "test_decode": "test decoding", "finished": "finished"}
_BEFORE_TRAINING = {"starting", "loading_data", "tokenizer", "model", "compiling", "dev_eval", "checkpointing"}


# --------------------------------------------------------------------------------------------------------------
class Series:
    """Growable float64 columns with amortised O(1) append. `view(name)` is the filled part (no copy).

    `generation` changes whenever rows are removed (clear/truncate), so an observer that keeps derived arrays
    incrementally (an EMA, say) knows it must recompute from scratch."""

    def __init__(self, columns: Iterable[str] = STEP_COLUMNS, capacity: int = 1024):
        self.columns = tuple(columns)
        self._cap = max(16, int(capacity))
        self._data = {c: np.full(self._cap, np.nan) for c in self.columns}
        self._n = 0
        self.generation = 0

    def __len__(self) -> int:
        return self._n

    def view(self, name: str) -> np.ndarray:
        return self._data[name][: self._n]

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= self._cap:
            return
        cap = self._cap
        while cap < need:
            cap *= 2
        for c in self.columns:
            arr = np.full(cap, np.nan)
            arr[: self._n] = self._data[c][: self._n]
            self._data[c] = arr
        self._cap = cap

    def extend(self, cols: dict[str, Any]) -> int:
        """Append rows given column -> sequence (missing columns are NaN; None becomes NaN). Returns rows added."""
        k = 0
        arrays = {}
        for c in self.columns:
            if c in cols:
                a = _column(cols[c])
                arrays[c] = a
                k = max(k, len(a))
        if k == 0:
            return 0
        self._reserve(k)
        lo, hi = self._n, self._n + k
        for c in self.columns:
            a = arrays.get(c)
            if a is None or len(a) != k:
                self._data[c][lo:hi] = np.nan
                if a is not None:
                    self._data[c][lo:lo + len(a)] = a
            else:
                self._data[c][lo:hi] = a
        self._n = hi
        return k

    def append(self, **values: Any) -> None:
        self.extend({k: [v] for k, v in values.items()})

    def truncate(self, n: int) -> None:
        n = max(0, min(int(n), self._n))
        if n != self._n:
            for c in self.columns:
                self._data[c][n: self._n] = np.nan
            self._n = n
            self.generation += 1

    def clear(self) -> None:
        self.truncate(0)
        self.generation += 1


def _column(values: Any) -> np.ndarray:
    """A column of event values as float64, each read as engine.contract.events.number reads it (NaN for missing,
    null, bool, text and non-finite values); numbers only, the common case, in one numpy conversion."""
    if isinstance(values, np.ndarray):
        a = values.astype(np.float64, copy=False).reshape(-1) if values.dtype.kind in "iuf" else None
    else:
        values = list(values)
        a = np.asarray(values, dtype=np.float64) if set(map(type, values)) <= _PLAIN else None
    if a is None:
        return np.array([math.nan if (v := number(x)) is None else v for x in values], dtype=np.float64)
    if not np.isfinite(a).all():
        a = np.where(np.isfinite(a), a, np.nan)
    return a


_PLAIN = {float, int, type(None)}


# --------------------------------------------------------------------------------------------------------------
def _idle_status() -> dict:
    return {"step": 0, "elapsed": 0.0, "progress": 0.0, "budget_seconds": None, "remaining": None,
            "eta_seconds": None, "loss": None, "tokens_per_s": None, "device": None, "state": "idle",
            "best_dev_bleu": None, "phase": None, "phase_text": None, "phase_message": None, "decode": None,
            "train_eta": None, "eval_eta": None}


_STATES = {"unknown": "idle", "started": "running"}   # fold_status values shown under another name


class RunState(QObject):
    """Everything one run has streamed, as plain data + Qt signals. Ingests engine events (dicts)."""

    reset_signal = Signal()            # state cleared (new run / opened another run)
    started = Signal(dict)             # the 'started' event
    progressed = Signal()              # new step/eval data arrived (at most once per ingest/ingest_many call)
    evaluated = Signal(dict)           # an 'eval' event
    result_added = Signal(dict)        # a 'result' event (per language)
    samples_added = Signal(str)        # language whose samples arrived
    error = Signal(dict)               # an 'error' event
    finished = Signal(dict)            # the 'done' event
    log_line = Signal(str)             # 'log' events, formatted
    data_report = Signal(dict)         # 'data' events
    phase_changed = Signal(str)        # a 'phase' event (engine.contract.events.PHASES)
    decoding = Signal(dict)            # a decode 'progress' event (the final evaluation)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.steps = Series(STEP_COLUMNS)
        self.run_dir: str | None = None
        self.replay_offset = 0   # bytes of events.jsonl consumed by load_run_dir (complete lines only)
        self._reset_data()

    # -- data -------------------------------------------------------------------------------------------------
    def _reset_data(self) -> None:
        self.config: dict | None = None
        self.device: str | None = None
        self.started_event: dict | None = None
        self.schedule: dict | None = None
        self.steps.clear()
        self.evals: list[dict] = []
        self.results: dict[str, dict] = {}
        self.samples: dict[str, list[dict]] = {}
        self.data_reports: list[dict] = []
        self.errors: list[dict] = []
        self.checkpoints: list[dict] = []
        self.resumes: list[dict] = []             # the `started` events of resumed sessions (plot markers)
        self.decode: dict[tuple[str, str], dict] = {}   # (language, split) -> its latest decode progress event
        self.done: dict | None = None
        self.status: dict = _idle_status()
        self.folded_status = "unknown"   # engine.contract.rundir.fold_status over the events so far
        self.last_event_time: float | None = None   # the writer's clock ("time" of the last event ingested)

    def clear(self) -> None:
        self._reset_data()
        self.run_dir = None
        self.replay_offset = 0
        self.reset_signal.emit()

    @property
    def budget_seconds(self) -> float | None:
        return self.status.get("budget_seconds")

    # -- ingestion --------------------------------------------------------------------------------------------
    def ingest(self, event: dict) -> None:
        self.ingest_many([event])

    def ingest_many(self, events: list[dict]) -> None:
        """Apply a burst of events in order. Consecutive step events are appended as one numpy batch; one
        `progressed` is emitted at the end when steps or evals arrived."""
        pending: list[dict] = []
        changed = False
        if events and isinstance(events[-1], dict):
            t = number(events[-1].get("time"))
            if t is not None:
                self.last_event_time = t
        for ev in events:
            if not isinstance(ev, dict):
                continue
            kind = ev.get("event")
            if kind == "step":
                pending.append(ev)
                continue
            if pending:
                self._append_steps(pending)
                pending = []
                changed = True
            self._fold(ev)
            changed |= self._apply(kind, ev)
        if pending:
            self._append_steps(pending)
            changed = True
        if changed:
            self.progressed.emit()

    def _append_steps(self, evs: list[dict]) -> None:
        # the columns this burst carries (missing ones are NaN): an engine that sends few fields costs little
        present = set(evs[0]).union(evs[-1])
        cols = {c: [e.get(c) for e in evs] for c in STEP_COLUMNS if c in present}
        self.steps.extend(cols)
        last = evs[-1]
        st = self.status
        for key in ("step", "elapsed", "progress"):
            v = number(last.get(key))
            if v is not None:
                st[key] = int(v) if key == "step" else v
        loss = self.steps.view("loss")
        tps = self.steps.view("tokens_per_s")
        st["loss"] = _last_finite(loss)
        st["tokens_per_s"] = _last_finite(tps)
        if st["phase"] in _BEFORE_TRAINING or st["phase"] is None:
            self._set_phase("training")               # steps are training (an engine without phase events too)
        self._fold(last)
        self._update_eta()

    def _update_eta(self) -> None:
        """`train_eta` (the training budget left, from progress), `eval_eta` (the final decoding still to come) and
        their sum `eta_seconds`. The evaluation is estimated from the dev evaluations' seconds per example times
        the final split's examples, and once decoding has started from its own progress."""
        st = self.status
        budget = st.get("budget_seconds")
        elapsed = st.get("elapsed") or 0.0
        progress = st.get("progress") or 0.0
        st["remaining"] = max(0.0, budget - elapsed) if budget else None
        if st.get("phase") in ("test_decode", "finished") or self.decode:
            train = 0.0
        elif 0.0 < progress < 1.0 and elapsed > 0:
            train = elapsed * (1.0 - progress) / progress
        elif progress >= 1.0:
            train = 0.0
        else:
            train = st["remaining"]
        st["train_eta"] = train
        st["eval_eta"] = self._eval_eta()
        st["decode"] = self._decode_summary()
        if train is None:
            st["eta_seconds"] = None
        else:
            st["eta_seconds"] = train + (st["eval_eta"] or 0.0)

    def eval_examples(self) -> dict[str, int]:
        """Examples of the final split per language (the `data` events, capped by data.max_test)."""
        cfg = self.config if isinstance(self.config, dict) else {}
        split = str(((cfg.get("eval") or {}).get("split")) or "test")
        cap = number((cfg.get("data") or {}).get("max_test" if split == "test" else "max_valid")) or 0
        out: dict[str, int] = {}
        for d in self.data_reports:
            n = number(d.get("n"))
            if d.get("split") == split and n is not None:
                out[str(d.get("language") or "?")] = int(min(n, cap) if cap > 0 else n)
        return out

    def _seconds_per_example(self) -> float | None:
        """Decoding seconds per example: from the decode progress when it has started, else from the last dev
        evaluations (eval_seconds / n)."""
        for ev in reversed(list(self.decode.values())):
            done, total, eta = number(ev.get("done")), number(ev.get("total")), number(ev.get("eta_seconds"))
            if done and total and eta is not None and total > done:
                return eta / (total - done)
        rates = [number(e.get("eval_seconds")) / number(e.get("n")) for e in self.evals[-3:]
                 if number(e.get("eval_seconds")) is not None and number(e.get("n"))]
        return sum(rates) / len(rates) if rates else None

    def _eval_eta(self) -> float | None:
        if self.done is not None:
            return 0.0
        per = self._seconds_per_example()
        counts = self.eval_examples()
        left = 0.0
        for (lang, _split), ev in self.decode.items():
            total, done = number(ev.get("total")) or 0, number(ev.get("done")) or 0
            eta = number(ev.get("eta_seconds"))
            counts.pop(lang, None)
            if total > done:
                left += eta if eta is not None else (per or 0.0) * (total - done)
        if per is None:
            return left if self.decode else None
        return left + per * sum(counts.values())

    def _decode_summary(self) -> dict | None:
        """The decoding in progress: {language, split, done, total, eta_seconds} of the latest decode event, with
        `all_done` / `all_total` over every language decoded so far."""
        if not self.decode:
            return None
        last = list(self.decode.values())[-1]
        all_done = sum(int(number(e.get("done")) or 0) for e in self.decode.values())
        all_total = sum(int(number(e.get("total")) or 0) for e in self.decode.values())
        return {"language": last.get("language"), "split": last.get("split"),
                "done": int(number(last.get("done")) or 0), "total": int(number(last.get("total")) or 0),
                "eta_seconds": number(last.get("eta_seconds")), "all_done": all_done, "all_total": all_total,
                "languages": len(self.decode)}

    def _set_phase(self, phase: str | None, message: str | None = None) -> None:
        st = self.status
        st["phase"] = phase
        st["phase_message"] = message
        st["phase_text"] = PHASE_TEXT.get(phase, phase) if phase else None

    def card(self) -> dict:
        """What identifies the run and what it has used so far (the run card): model kind and size, parameters,
        training examples, device, precision, ranks, epoch, tokens seen, CUDA peak memory."""
        cfg = self.config if isinstance(self.config, dict) else {}
        model = cfg.get("model") or {}
        ev = self.started_event or {}
        source = str(model.get("source") or "") or None
        if source == "scratch":
            what = f"from scratch, {model.get('size') or '?'}"
        elif source in ("encoder", "seq2seq"):
            what = f"{source}: {model.get('name_or_path') or '?'}"
        else:
            what = None
        s = self.steps
        tokens = s.view("tokens")
        seen = float(np.nansum(tokens)) if len(tokens) and np.isfinite(tokens).any() else None
        if self.done is not None and number(self.done.get("tokens_seen")) is not None:
            seen = number(self.done.get("tokens_seen"))
        return {"name": cfg.get("name") or (Path(self.run_dir).name if self.run_dir else None),
                "model": what, "parameters": number(ev.get("n_params")), "train_examples": number(ev.get("n_train")),
                "device": self.device, "precision": ev.get("precision"), "ranks": number(ev.get("world_size")),
                "epoch": _last_finite(s.view("epoch")), "tokens_seen": seen,
                "peak_allocated": _max_finite(s.view("max_memory_allocated")),
                "peak_reserved": _max_finite(s.view("max_memory_reserved")),
                "resumed": len(self.resumes)}

    def _apply(self, kind: str | None, ev: dict) -> bool:
        """Apply one non-step event; True when plot data changed."""
        st = self.status
        if kind == "started":
            self.started_event = ev
            self.config = ev.get("config") if isinstance(ev.get("config"), dict) else self.config
            self.device = ev.get("device") or self.device
            self.run_dir = ev.get("run_dir") or self.run_dir
            self.schedule = ev.get("schedule") if isinstance(ev.get("schedule"), dict) else self.schedule
            # a resumed run restarts from its checkpoint: drop what was logged after it (it will be redone)
            start_step = number(ev.get("step"))
            changed = False
            if start_step is not None and len(self.steps):
                over = np.flatnonzero(self.steps.view("step") > start_step)
                keep = int(over[0]) if len(over) else len(self.steps)
                if keep < len(self.steps):
                    self.steps.truncate(keep)
                    changed = True
                self.evals = [e for e in self.evals if (number(e.get("step")) or 0) <= start_step]
            if ev.get("resumed") is True:
                self.resumes.append(ev)
            self.decode = {}
            if self.status.get("phase") in (None, "finished", "test_decode"):
                self._set_phase("starting")
            budget = number(ev.get("budget_seconds"))
            if budget is None and self.config:
                budget = number((self.config.get("budget") or {}).get("seconds"))
            st.update(device=self.device, budget_seconds=budget)
            if start_step is not None:
                st["step"] = int(start_step)
            el = number(ev.get("elapsed"))
            if el is not None:
                st["elapsed"] = el
                if budget:
                    st["progress"] = min(1.0, el / budget)
            self.done = None
            self._update_eta()
            self.started.emit(ev)
            return changed or ev.get("resumed") is True
        if kind == "eval":
            self.evals.append(ev)
            self._update_eta()
            b = number(ev.get("dev_bleu"))
            if b is not None and (st["best_dev_bleu"] is None or b > st["best_dev_bleu"]):
                st["best_dev_bleu"] = b
            self.evaluated.emit(ev)
            return True
        if kind == "result":
            lang = str(ev.get("language") or "?")
            self.results[lang] = ev
            self.result_added.emit(ev)
            return False
        if kind == "samples":
            lang = str(ev.get("language") or "?")
            self._add_samples(lang, ev.get("items") or [], ev.get("split"))
            self.samples_added.emit(lang)
            return False
        if kind == "error":
            self.errors.append(ev)
            self.error.emit(ev)
            return False
        if kind == "done":
            self.done = ev
            for key in ("step", "elapsed"):
                v = number(ev.get(key))
                if v is not None:
                    st[key] = int(v) if key == "step" else v
            b = number(ev.get("best_dev_bleu"))
            if b is not None and (st["best_dev_bleu"] is None or b > st["best_dev_bleu"]):
                st["best_dev_bleu"] = b
            self._set_phase("finished")
            self._update_eta()
            st["eta_seconds"] = 0.0 if st["state"] == "completed" else None
            st["eval_eta"] = 0.0 if st["state"] == "completed" else None
            self.finished.emit(ev)
            return False
        if kind == "phase":
            phase = ev.get("phase")
            if isinstance(phase, str) and phase:
                msg = ev.get("message")
                self._set_phase(phase, msg if isinstance(msg, str) else None)
                self._update_eta()
                self.phase_changed.emit(phase)
            return False
        if kind == "progress":
            if ev.get("task") == "decode":
                key = (str(ev.get("language") or "?"), str(ev.get("split") or "?"))
                self.decode[key] = ev
                if st.get("phase") != "test_decode":
                    self._set_phase("test_decode")
                self._update_eta()
                self.decoding.emit(ev)
            return False
        if kind == "log":
            self.log_line.emit(format_log(ev))
            return False
        if kind == "data":
            self.data_reports.append(ev)
            self.data_report.emit(ev)
            return False
        if kind == "checkpoint":
            self.checkpoints.append(ev)
            return False
        return False

    def _fold(self, ev: dict) -> None:
        """The run's state after one more event: engine.contract.rundir.fold_status, shown as idle before any
        event and running while training has no end yet (the session, which knows whether the writer lives, turns
        `folded_status` into the run's status with rundir.run_status)."""
        self.folded_status = fold_status(self.folded_status, ev)
        self.status["state"] = _STATES.get(self.folded_status, self.folded_status)

    def _add_samples(self, lang: str, items: list, split: Any = None) -> None:
        cur = self.samples.setdefault(lang, [])
        pos = {it.get("idx"): i for i, it in enumerate(cur) if it.get("idx") is not None}
        for it in items:
            if not isinstance(it, dict):
                continue
            it = dict(it)
            if split is not None:
                it.setdefault("split", split)
            j = pos.get(it.get("idx")) if it.get("idx") is not None else None
            if j is None:
                pos[it.get("idx")] = len(cur)
                cur.append(it)
            else:
                cur[j] = it

    # -- replay -----------------------------------------------------------------------------------------------
    def load_run_dir(self, path: str | os.PathLike) -> None:
        """Clear, then replay RUN_DIR/events.jsonl (a torn last line is skipped; `replay_offset` is left at its
        start so a follower can read on from there). results.csv / samples.jsonl / config.json fill in what the
        events lack."""
        d = Path(path)
        self.clear()
        self.run_dir = str(d)
        events, self.replay_offset = replay(d)   # complete lines only: a torn tail is left for a follower
        self.ingest_many(events)
        self.run_dir = str(d)
        if self.config is None:
            cfg_path = d / CONFIG
            if cfg_path.is_file():
                try:
                    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    cfg = None
                self.config = cfg if isinstance(cfg, dict) else None
        if not self.results:
            for row in read_results(d):
                ev = {"event": "result", **{k: (None if v == "" else v) for k, v in row.items()}}
                self._apply("result", ev)
        if not self.samples:
            by_lang: dict[str, list[dict]] = {}
            for s in read_samples(d):
                if isinstance(s, dict):
                    by_lang.setdefault(str(s.get("language") or "?"), []).append(s)
            for lang, items in by_lang.items():
                self._add_samples(lang, items)
                self.samples_added.emit(lang)


def _last_finite(a: np.ndarray) -> float | None:
    if len(a) == 0:
        return None
    tail = a[-256:]
    ok = np.flatnonzero(np.isfinite(tail))
    if len(ok):
        return float(tail[ok[-1]])
    ok = np.flatnonzero(np.isfinite(a))
    return float(a[ok[-1]]) if len(ok) else None


def _max_finite(a: np.ndarray) -> float | None:
    ok = a[np.isfinite(a)] if len(a) else a
    return float(ok.max()) if len(ok) else None


def format_log(ev: dict) -> str:
    level = str(ev.get("level") or "info")
    msg = str(ev.get("message") if ev.get("message") is not None else "")
    return msg if level == "info" else f"[{level}] {msg}"
