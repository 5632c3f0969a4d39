"""Everything one run has streamed, as plain data plus Qt signals.

`RunState` ingests engine events (the dicts of `engine.contract.events`) from a live worker or from a run directory
being replayed; the views (plots, results, samples, status line) only observe it. Step events, by far the most frequent,
go into growable numpy columns (`Series`, cramgui.run_series) in batches: `ingest_many` of a burst costs a few numpy
calls and emits a single `progressed` signal. The ETA estimates live in cramgui.run_eta, the replay of a run
directory (`load_run_dir`) in cramgui.run_replay.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.contract.events import number
from engine.contract.rundir import fold_status

from .run_eta import RunEstimates
from .run_replay import RunReplay
from .run_series import STEP_COLUMNS, Series, _last_finite, _max_finite

__all__ = ["PHASE_TEXT", "STEP_COLUMNS", "RunState", "Series", "format_log"]   # Series: re-exported

# what each phase (engine.contract.events.PHASES) is called in the status line
PHASE_TEXT = {"starting": "starting: importing", "loading_data": "starting: loading data",
              "tokenizer": "starting: training the tokenizer", "model": "starting: building the model",
              "compiling": "starting: compiling", "training": "training", "dev_eval": "dev evaluation",
              "checkpointing": "checkpointing", "test_decode": "test decoding", "finished": "finished"}
_BEFORE_TRAINING = {"starting", "loading_data", "tokenizer", "model", "compiling", "dev_eval", "checkpointing"}


# --------------------------------------------------------------------------------------------------------------
def _idle_status() -> dict:
    return {"step": 0, "elapsed": 0.0, "progress": 0.0, "budget_seconds": None, "remaining": None,
            "eta_seconds": None, "loss": None, "tokens_per_s": None, "device": None, "state": "idle",
            "best_dev_bleu": None, "phase": None, "phase_text": None, "phase_message": None, "decode": None,
            "train_eta": None, "eval_eta": None}


_STATES = {"unknown": "idle", "started": "running"}   # fold_status values shown under another name


class RunState(RunReplay, RunEstimates, QObject):
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


def format_log(ev: dict) -> str:
    level = str(ev.get("level") or "info")
    msg = str(ev.get("message") if ev.get("message") is not None else "")
    return msg if level == "info" else f"[{level}] {msg}"
