"""Run directory layout, atomic writes, and reading a run back (pure Python: the console uses it too).

RUN_DIR/
  config.json            resolved RunConfig
  env.json               versions, device, hostname, pid, command line
  events.jsonl           the event stream (see engine.contract.events)
  checkpoints/last/      latest checkpoint: model + tokenizer (save_pretrained), optimizer.pt (tensors only),
                         cram_state.json (TrainState; trainer_state.json in older runs), written last
  checkpoints/best/      best dev-BLEU checkpoint, same layout without optimizer.pt
  results.csv            RESULT_FIELDS (with the constant floor of each split)
  {lang}_{split}.output  predictions, `idx<TAB>text` per line (the CodeXGLUE evaluator's format)
  {lang}_{split}.gold    references, same format
  samples.jsonl          one JSON object per sample: language, split, idx, code, reference, prediction, bleu
  tokenizer/             the run's tokenizer (from-scratch models)
  worker.pid             pid of the process writing this run while it runs
  writer.lock            the writer's host/pid/start (engine.contract.lock)
  metrics.csv            one row per step / dev evaluation (engine.mirrors)
  console.json           the console's name and notes (the engine never touches it)
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import socket

from .files import check_regular, inside, open_read

from .events import number, read_events
from .paths import LANGUAGES, SPLITS, default_runs_dir

# the files of a run directory
CONFIG = "config.json"
ENV = "env.json"
EVENTS = "events.jsonl"
RESULTS = "results.csv"
SAMPLES = "samples.jsonl"
PID_FILE = "worker.pid"
LOCK_FILE = "writer.lock"                 # engine.contract.lock
CONSOLE_FILE = "console.json"             # the console's name and notes of a run; the engine never touches it
CHECKPOINTS = "checkpoints"
STATE_FILE = "cram_state.json"            # a checkpoint's TrainState; written last, so it marks a complete one
LEGACY_STATE_FILE = "trainer_state.json"  # its name before 0.2 (not HF Trainer's schema, hence the rename)
RESULT_FIELDS = ["language", "split", "n", "bleu4", "nltk_bleu4", "decode_seconds", "beam_size", "floor_bleu4",
                 "above_floor", "floor_text"]
# what `run_status` answers
STATUSES = ("running", "completed", "stopped", "pruned", "failed", "interrupted", "unknown")
TERMINAL = ("completed", "stopped", "pruned", "failed")


def safe_name(name: str | None) -> str:
    """A folder-name-safe form of a run name: letters, digits and -_. kept, everything else '-'."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in (name or "run")).strip(".")
    return safe or "run"


def run_dir_name(name: str | None, when: _dt.datetime | None = None) -> str:
    """DATE-TIME-NAME, the name of a new run's folder."""
    return f"{(when or _dt.datetime.now()).strftime('%Y%m%d-%H%M%S')}-{safe_name(name)}"


def new_run_dir(runs_dir: str | os.PathLike | None, name: str) -> Path:
    base = Path(runs_dir) if runs_dir else default_runs_dir()
    stem = run_dir_name(name)
    d = base / stem
    i = 1
    while d.exists():
        i += 1
        d = base / f"{stem}-{i}"
    d.mkdir(parents=True)
    return d


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write to a temp file beside `path`, fsync, then rename: readers see the old or the new file, never half."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def replace_dir(tmp_dir: Path, final: Path) -> None:
    """Move a fully written `tmp_dir` to `final`. The old `final` is moved aside first and deleted last, so a
    kill at any moment leaves either the old or the new directory (possibly under `final.old`)."""
    old = final.with_name(final.name + ".old")
    for p in (final, old, final.parent):
        if p.is_symlink():
            check_regular(p)  # raises UnsafePath: a swap never goes through a link
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp_dir, final)
    _fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def state_file(folder: str | os.PathLike) -> Path | None:
    """The TrainState file of a checkpoint folder (cram_state.json, or trainer_state.json of older runs)."""
    for name in (STATE_FILE, LEGACY_STATE_FILE):
        p = Path(folder) / name
        if p.is_file() and not p.is_symlink():
            return p
    return None


def checkpoint_dir(run_dir: str | os.PathLike, kind: str = "last") -> Path | None:
    """The usable checkpoint of a kind: `kind/` if complete, else the `kind.old/` left by a kill mid-swap. A
    symlinked checkpoint folder is never used."""
    base = Path(run_dir) / CHECKPOINTS
    if base.is_symlink():
        return None
    for cand in (base / kind, base / f"{kind}.old"):
        if not cand.is_symlink() and state_file(cand) is not None:
            return cand
    return None


def write_results(run_dir: str | os.PathLike, rows: list[dict]) -> None:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(inside(run_dir, Path(run_dir) / RESULTS), buf.getvalue())


class RunFileError(ValueError):
    """A run file exists but is not what the engine writes (damaged, edited, or crafted). The message names the
    file and the problem; readers name the run to the user and go on with the other runs."""


def read_results(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of RUN_DIR/results.csv ([] when there is none). Raises RunFileError for a file that is not a
    results table: no `language` column, a row whose language is not a known one, a number that is not one."""
    p = Path(run_dir) / RESULTS
    if p.is_symlink() or not p.is_file():
        return []
    try:
        with open_read(p, binary=False) as fh:
            rows = list(csv.DictReader(fh))
            header = rows[0].keys() if rows else []
    except (OSError, csv.Error, UnicodeError) as e:
        raise RunFileError(f"{p}: cannot read it as a results table ({e})") from None
    if rows and ("language" not in header or "bleu4" not in header):
        raise RunFileError(f"{p}: not a results table (expected the columns {', '.join(RESULT_FIELDS[:4])}, "
                           f"found {', '.join(str(h) for h in header)[:200]})")
    for i, r in enumerate(rows, start=2):
        if r.get("language") not in LANGUAGES:
            raise RunFileError(f"{p}, line {i}: unknown language {str(r.get('language'))[:40]!r}")
        try:
            for k in ("n", "beam_size"):
                r[k] = int(float(r[k])) if r.get(k) not in (None, "") else None
            for k in ("floor_bleu4", "above_floor", "floor_text"):  # optional columns: absent when empty
                if r.get(k) in (None, ""):
                    r.pop(k, None)
            for k in ("bleu4", "nltk_bleu4", "decode_seconds", "floor_bleu4", "above_floor"):
                if k in r:
                    r[k] = float(r[k]) if r[k] not in (None, "") else None
        except (TypeError, ValueError, OverflowError):
            raise RunFileError(f"{p}, line {i}: {k} is not a number ({str(r.get(k))[:40]!r})") from None
    return rows


def prediction_paths(run_dir: str | os.PathLike, language: str, split: str) -> tuple[Path, Path]:
    """RUN_DIR/{language}_{split}.output and .gold — only for a known language and split (the names of files
    written into a run never come from a run's own text)."""
    if language not in LANGUAGES or split not in SPLITS:
        raise ValueError(f"unknown language/split {language!r}/{split!r}: expected one of {', '.join(LANGUAGES)} "
                         f"and {', '.join(SPLITS)}")
    d = Path(run_dir)
    return inside(d, d / f"{language}_{split}.output"), inside(d, d / f"{language}_{split}.gold")


def write_predictions(run_dir: str | os.PathLike, language: str, split: str,
                      predictions: list[str], references: list[str]) -> tuple[Path, Path]:
    """`{lang}_{split}.output` / `.gold` in the CodeXGLUE evaluator's format (idx<TAB>text)."""
    out, gold = prediction_paths(run_dir, language, split)
    atomic_write_text(out, "".join(f"{i}\t{_one_line(p)}\n" for i, p in enumerate(predictions)))
    atomic_write_text(gold, "".join(f"{i}\t{_one_line(r)}\n" for i, r in enumerate(references)))
    return out, gold


def _one_line(s: str) -> str:
    return " ".join(s.split())


def write_samples(run_dir: str | os.PathLike, samples: list[dict]) -> None:
    atomic_write_text(inside(run_dir, Path(run_dir) / SAMPLES),
                      "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))


def read_samples(run_dir: str | os.PathLike) -> list[dict]:
    p = Path(run_dir) / SAMPLES
    if p.is_symlink() or not p.is_file():
        return []
    out = []
    with open_read(p) as fh:
        text = fh.read().decode("utf-8", errors="replace")
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def is_run_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return (p / "events.jsonl").is_file() or (p / "config.json").is_file()


def pid_alive(pid) -> bool:
    """Whether a process of this id lives on this machine (False for anything that is not a usable pid)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**31:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError, ValueError):
        return False
    return True


def read_pid(run_dir: str | os.PathLike) -> int | None:
    """The pid in RUN_DIR/worker.pid, or None (no file, unreadable, not a plausible pid)."""
    try:
        text = (Path(run_dir) / PID_FILE).read_text(encoding="ascii", errors="strict")[:32].strip()
        pid = int(text)
    except (OSError, ValueError, UnicodeError):
        return None
    return pid if 0 < pid < 2**31 else None


def run_host(run_dir: str | os.PathLike) -> str | None:
    """The host named in env.json (where the run was last written)."""
    try:
        env = json.loads((Path(run_dir) / ENV).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    host = env.get("host") if isinstance(env, dict) else None
    return str(host) if isinstance(host, str) and host else None


def writer_host(run_dir: str | os.PathLike) -> str | None:
    """The other machine (a cluster node) that is writing the run, as far as this one can tell: worker.pid is
    still there (the engine removes it on exit) and env.json names another host. None otherwise."""
    if not (Path(run_dir) / PID_FILE).is_file():
        return None
    host = run_host(run_dir)
    return host if host and host != socket.gethostname() else None


def writer_alive(run_dir: str | os.PathLike) -> bool:
    """Whether the process named in worker.pid lives on this machine."""
    pid = read_pid(run_dir)
    return pid is not None and writer_host(run_dir) is None and pid_alive(pid)


def fold_status(status: str, event: dict) -> str:
    """The status after one more event, from the events alone: 'unknown' before any, 'started' while training
    has no end yet, 'failed' after an error, then the `done` event's status. `run_status` turns 'started' into
    running / interrupted."""
    kind = event.get("event")
    if kind == "started":
        return "started"
    if kind == "done":
        st = event.get("status")
        if st in TERMINAL:
            return st
        return "stopped" if event.get("stopped") else "completed"
    if kind == "error" and status not in TERMINAL:
        return "failed"
    if status == "unknown":
        return "started"
    return status


def run_status(folded: str, alive: bool) -> str:
    """The one status of a run: a `done` event's status; else 'running' while its writer lives; else 'failed'
    after an error, 'interrupted' when events stop without an end, 'unknown' with no event at all."""
    if folded in TERMINAL:
        return folded
    if alive:
        return "running"
    if folded == "failed":
        return "failed"
    return "interrupted" if folded == "started" else "unknown"


def summarize(run_dir: str | os.PathLike) -> dict:
    """What a runs list shows: name, path, started (ISO), status, budget_seconds, step, elapsed, best_dev_bleu,
    results {lang: bleu4}, last_event_time. Status: running | completed | stopped | failed | interrupted."""
    d = Path(run_dir)
    info: dict[str, Any] = {"name": d.name, "path": str(d), "started": None, "status": "unknown",
                            "budget_seconds": None, "step": 0, "elapsed": 0.0, "best_dev_bleu": None,
                            "results": {}, "last_event_time": None}
    cfg_path = d / CONFIG
    if cfg_path.is_file():
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            budget = cfg.get("budget") if isinstance(cfg, dict) else None
            info["budget_seconds"] = number(budget.get("seconds")) if isinstance(budget, dict) else None
            name = cfg.get("name") if isinstance(cfg, dict) else None
            info["name"] = name if isinstance(name, str) and name else d.name
        except (OSError, ValueError):
            pass
    folded = "unknown"
    for ev in read_events(d / EVENTS):
        kind = ev.get("event")
        folded = fold_status(folded, ev)
        info["last_event_time"] = number(ev.get("time"))
        if kind == "started":
            if info["started"] is None and number(ev.get("time")) is not None:
                try:
                    info["started"] = _dt.datetime.fromtimestamp(ev["time"]).isoformat(timespec="seconds")
                except (OverflowError, OSError, ValueError):
                    pass
            info["budget_seconds"] = number(ev.get("budget_seconds")) or info["budget_seconds"]
        elif kind == "step":
            step = number(ev.get("step"))
            info["step"] = int(step) if step is not None else info["step"]
            info["elapsed"] = number(ev.get("elapsed")) or info["elapsed"]
        elif kind == "eval" and number(ev.get("dev_bleu")) is not None:
            b = number(ev["dev_bleu"])
            info["best_dev_bleu"] = b if info["best_dev_bleu"] is None else max(info["best_dev_bleu"], b)
        elif kind == "result" and isinstance(ev.get("language"), str):
            info["results"][ev["language"]] = number(ev.get("bleu4"))
    info["status"] = run_status(folded, writer_alive(d))
    return info


def list_runs(runs_dir: str | os.PathLike) -> list[dict]:
    base = Path(runs_dir)
    if not base.is_dir():
        return []
    runs = [summarize(p) for p in sorted(base.iterdir()) if p.is_dir() and is_run_dir(p)]
    runs.sort(key=lambda r: r["started"] or "", reverse=True)
    return runs
