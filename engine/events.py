"""The JSON-lines event stream: the one contract between the engine and anything watching it.

Every event is one JSON object on one line: {"v": 1, "event": NAME, "time": UNIX_SECONDS, ...fields}.
The engine appends each event to RUN_DIR/events.jsonl (flushed and fsync'd per line for the important ones) and,
with `cram train --jsonl`, also writes it to stdout. Logs and tracebacks go to stderr, never to stdout.

Events and their fields (all optional fields may be absent or null):
  started     run_dir, config (resolved dict), device, precision, versions {python, torch, transformers},
              n_params, resumed (bool), step, elapsed, budget_seconds, schedule {name, warmup, peak_lr}
  data        language, split, n (usable examples), skipped (count), skipped_lines (first few line numbers),
              reasons {reason: count}, path
  step        step, elapsed (training seconds), progress (0..1), loss, lr, tokens (real tokens this step),
              tokens_per_s, examples, epoch, grad_norm, mfu (0..1, when the device peak is known)
  eval        step, elapsed, split ("valid"), dev_loss, dev_ppl, dev_bleu, n, eval_seconds, best (bool)
  checkpoint  kind ("last"|"best"), step, elapsed, path
  result      language, split, n, bleu4, nltk_bleu4, decode_seconds, beam_size
  samples     language, split, items [{idx, code, reference, prediction, bleu}]
  log         level ("info"|"warning"), message
  error       message, hint, kind ("config"|"data"|"oom"|"nonfinite"|"internal")
  done        status ("completed"|"stopped"|"failed"), stopped (bool), step, elapsed, eval_seconds, best_dev_bleu,
              results {language: bleu4}
  progress    task ("build"|"fetch"), done, total (0 = unknown), message — `cram data build|fetch --jsonl`, which
              end with `done` {status, path, counts, skipped} or `error`
"""
from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Iterator

SCHEMA_VERSION = 1
EVENT_NAMES = ("started", "data", "step", "eval", "checkpoint", "result", "samples", "log", "error", "done",
               "progress")
# events worth an fsync: losing them on a crash loses information a user needs
_DURABLE = {"started", "checkpoint", "result", "error", "done", "eval"}


def _clean(value: Any) -> Any:
    """JSON has no NaN/Infinity: non-finite floats become null (the GUI masks them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def encode(event: str, **fields: Any) -> str:
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown event {event!r}")
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
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
            # a previous run killed mid-line leaves a torn line: start ours on a fresh line
            if self._file.tell() > 0:
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        self._file.write("\n")

    def emit(self, event: str, **fields: Any) -> dict:
        line = encode(event, **fields)
        with self._lock:
            if self._file:
                try:
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
            print(f"cram: cannot write events to {self.path}: {e}", file=sys.stderr, flush=True)

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
    if not p.is_file():
        return
    with open(p, "rb") as fh:
        for raw in fh:
            ev = decode(raw)
            if ev is not None:
                yield ev
