"""The JSON-lines event stream: the records the engine writes and anything watching it reads.

Every event is one JSON object on one line: {"v": 1, "event": NAME, "time": UNIX_SECONDS, ...fields}. Each NAME
has one record type below (a dataclass whose fields are the event's fields; every field may be absent or null on
the wire). The engine appends each event to RUN_DIR/events.jsonl (flushed per line, fsync'd for the durable ones)
and, with `cram train --jsonl`, writes it to stdout too. Logs and tracebacks go to stderr, never to stdout.
`encode` refuses a field that the event's record does not declare, so the schema below cannot drift from what
is written; the README's event table is checked against these records by a test.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Optional
from collections.abc import Iterator

from .files import open_append, open_read, say

SCHEMA_VERSION = 1

# closed sets of values
ERROR_KINDS = ("config", "data", "oom", "nonfinite", "disk", "internal", "cancelled", "untrusted", "locked")
DONE_STATUSES = ("completed", "stopped", "failed", "pruned")
# what the engine is doing (the `phase` event); the console shows it in the status line
PHASES = ("starting", "loading_data", "tokenizer", "model", "compiling", "training", "dev_eval", "checkpointing",
          "test_decode", "finished")
LOG_LEVELS = ("info", "warning")
CHECKPOINT_KINDS = ("last", "best")


@dataclass
class Started:
    """A training session began (also after a resume)."""
    run_dir: Optional[str] = None
    config: Optional[dict] = None          # the resolved RunConfig as a dict
    device: Optional[str] = None
    precision: Optional[str] = None
    versions: Optional[dict] = None        # {python, torch, transformers, ...}
    n_params: Optional[int] = None
    n_train: Optional[int] = None
    resumed: Optional[bool] = None
    step: Optional[int] = None
    elapsed: Optional[float] = None
    budget_seconds: Optional[float] = None
    schedule: Optional[dict] = None        # {name, warmup, peak_lr, total_steps}: engine.contract.schedule.lr
    host: Optional[str] = None
    pid: Optional[int] = None
    world_size: Optional[int] = None


@dataclass
class Data:
    """One split was read."""
    language: Optional[str] = None
    split: Optional[str] = None
    n: Optional[int] = None                # usable examples
    skipped: Optional[int] = None
    skipped_lines: Optional[list] = None   # the first few skipped line numbers
    reasons: Optional[dict] = None         # {reason: count}
    path: Optional[str] = None


@dataclass
class Step:
    """Training progress (the first 10 steps, then at most every 0.1 s, aggregated in between)."""
    step: Optional[int] = None
    elapsed: Optional[float] = None        # training seconds (evaluation and checkpoints excluded)
    progress: Optional[float] = None       # 0..1 of the budget
    loss: Optional[float] = None           # per real target token
    lr: Optional[float] = None
    tokens: Optional[int] = None           # real tokens since the previous step event
    tokens_per_s: Optional[float] = None
    examples: Optional[int] = None
    epoch: Optional[int] = None
    grad_norm: Optional[float] = None
    mfu: Optional[float] = None            # 0..1, when the device's peak is known
    max_memory_allocated: Optional[int] = None   # CUDA: torch.cuda.max_memory_allocated() bytes
    max_memory_reserved: Optional[int] = None    # CUDA: torch.cuda.max_memory_reserved() bytes


@dataclass
class Eval:
    """A dev evaluation."""
    step: Optional[int] = None
    elapsed: Optional[float] = None
    split: Optional[str] = None
    dev_loss: Optional[float] = None
    dev_ppl: Optional[float] = None
    dev_bleu: Optional[float] = None       # mean over the languages
    per_language: Optional[dict] = None    # {language: dev BLEU-4}
    n: Optional[int] = None
    eval_seconds: Optional[float] = None
    best: Optional[bool] = None
    top_share: Optional[float] = None      # share of the dev examples given the most frequent prediction


@dataclass
class Checkpoint:
    kind: Optional[str] = None             # CHECKPOINT_KINDS
    step: Optional[int] = None
    elapsed: Optional[float] = None
    path: Optional[str] = None


@dataclass
class Result:
    """The final score of one language and split."""
    language: Optional[str] = None
    split: Optional[str] = None
    n: Optional[int] = None
    bleu4: Optional[float] = None
    nltk_bleu4: Optional[float] = None
    decode_seconds: Optional[float] = None
    beam_size: Optional[int] = None
    floor_bleu4: Optional[float] = None    # the constant-prediction floor of this split (engine.floor)
    floor_text: Optional[str] = None       # the constant: the best single training summary, chosen on dev


@dataclass
class Samples:
    language: Optional[str] = None
    split: Optional[str] = None
    items: Optional[list] = None           # [{idx, code, reference, prediction, bleu}]


@dataclass
class Log:
    level: Optional[str] = None            # LOG_LEVELS
    message: Optional[str] = None


@dataclass
class Error:
    kind: Optional[str] = None             # ERROR_KINDS
    message: Optional[str] = None
    hint: Optional[str] = None


@dataclass
class Done:
    """The process ends its work on the run (training or a data task)."""
    status: Optional[str] = None           # DONE_STATUSES
    stopped: Optional[bool] = None
    step: Optional[int] = None
    elapsed: Optional[float] = None
    eval_seconds: Optional[float] = None
    best_dev_bleu: Optional[float] = None
    tokens_seen: Optional[int] = None
    results: Optional[dict] = None         # {language: bleu4}
    path: Optional[str] = None             # data tasks: the folder written
    counts: Optional[dict] = None          # data tasks: {language: {split: n}}
    skipped: Optional[dict] = None         # data tasks: {reason: count}


@dataclass
class Progress:
    """Progress of a long piece of work: a data task (`cram data build|fetch --jsonl`) or the decoding of an
    evaluation split (task "decode", with language and split)."""
    task: Optional[str] = None             # "build" | "fetch" | "decode"
    done: Optional[int] = None
    total: Optional[int] = None            # 0 = unknown
    message: Optional[str] = None
    language: Optional[str] = None
    split: Optional[str] = None
    eta_seconds: Optional[float] = None


@dataclass
class Phase:
    """The engine moved on to another phase of the run (PHASES)."""
    phase: Optional[str] = None
    message: Optional[str] = None


RECORDS: dict[str, type] = {"started": Started, "data": Data, "step": Step, "eval": Eval, "checkpoint": Checkpoint,
                            "result": Result, "samples": Samples, "log": Log, "error": Error, "done": Done,
                            "progress": Progress, "phase": Phase}
EVENT_NAMES = tuple(RECORDS)
NAME_OF = {cls: name for name, cls in RECORDS.items()}
# events worth an fsync: losing them on a crash loses information a user needs
_DURABLE = {"started", "checkpoint", "result", "error", "done", "eval"}


def fields_of(event: str) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(RECORDS[event]))


def record(event: str, **fields: Any):
    """The typed record of an event; a field the event does not declare raises ValueError."""
    cls = RECORDS.get(event)
    if cls is None:
        raise ValueError(f"unknown event {event!r}")
    unknown = set(fields) - set(fields_of(event))
    if unknown:
        raise ValueError(f"event {event!r} has no field(s) {sorted(unknown)}")
    return cls(**fields)


def number(value: Any) -> float | None:
    """A finite number out of an event field, else None (missing, null, bool, text, NaN/inf, overflow)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except (OverflowError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _clean(value: Any) -> Any:
    """JSON has no NaN/Infinity: non-finite floats become null (the GUI masks them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def encode(event: str | object, **fields: Any) -> str:
    """One line for an event: `encode("step", step=3, loss=2.1)` or `encode(Step(step=3, loss=2.1))`. Fields
    left None are not written."""
    if not isinstance(event, str):
        name = NAME_OF.get(type(event))
        if name is None:
            raise ValueError(f"not an event record: {event!r}")
        fields = {**{k: v for k, v in dataclasses.asdict(event).items() if v is not None}, **fields}
        event = name
    else:
        record(event, **fields)  # validates the names
    obj = {"v": SCHEMA_VERSION, "event": event, "time": round(time.time(), 3)}
    obj.update(_clean(fields))
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def decode(line: str | bytes) -> dict | None:
    """Parse one line; None for blank or malformed lines (a torn last line after a kill, say)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or "event" not in obj:
        return None
    return obj


class EventWriter:
    """Append events to events.jsonl and optionally to a stream (stdout). Thread-safe. Writes never raise:
    a full disk must not kill training; the failure is reported once on stderr."""

    def __init__(self, path: str | os.PathLike | None, stream: IO[str] | None = None):
        self.path = Path(path) if path else None
        self.stream = stream
        self._lock = threading.Lock()
        self._file = None
        self._warned = False
        self._fresh_line_checked = False
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open_append(self.path)  # refuses a symlinked events.jsonl (UnsafePath)

    def _start_on_a_fresh_line(self) -> None:
        """A previous run killed mid-line leaves a torn line: start ours on a fresh line. Done at the first
        emit, not on opening, so a writer that is refused (another process holds the run) never touches it."""
        self._fresh_line_checked = True
        if self._file.tell() > 0:
            with open_read(self.path) as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    self._file.write("\n")

    def emit(self, event: str | object, **fields: Any) -> dict:
        line = encode(event, **fields)
        event = json.loads(line)["event"]
        with self._lock:
            if self._file:
                try:
                    if not self._fresh_line_checked:
                        self._start_on_a_fresh_line()
                    self._file.write(line + "\n")
                    self._file.flush()
                    if event in _DURABLE:
                        os.fsync(self._file.fileno())
                except OSError as e:
                    self._warn(e)
            if self.stream:
                try:
                    self.stream.write(line + "\n")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
        return json.loads(line)

    def _warn(self, e: Exception) -> None:
        if not self._warned:
            self._warned = True
            say(f"cram: cannot write events to {self.path}: {e}")

    def close(self) -> None:
        with self._lock:
            if self._file:
                try:
                    self._file.close()
                except OSError:
                    pass
                self._file = None


def read_events(path: str | os.PathLike) -> Iterator[dict]:
    """All well-formed events of a file, skipping torn or malformed lines."""
    p = Path(path)
    if p.is_symlink() or not p.is_file():
        return
    with open_read(p) as fh:
        for raw in fh:
            ev = decode(raw)
            if ev is not None:
                yield ev
