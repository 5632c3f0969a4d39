"""Reading a runs folder: one summary per run directory (engine.contract.rundir.summarize plus what the console
lists: folder time, model, console name and notes, checkpoint, and "unreadable" with the reason when a file of the run
is malformed; the run stays listed), cached so only runs that changed are read again."""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
import time
from pathlib import Path

from engine.contract.events import decode
from engine.contract.files import read_text
from engine.contract.rundir import (CONFIG, EVENTS, PID_FILE, RESULTS, checkpoint_dir, is_run_dir, read_results,
                                    summarize, writer_alive, writer_host)

from .run_meta import META_FILE, read_meta

_FOLDER_TIME = re.compile(r"^(\d{8}-\d{6})")


def folder_time(d: Path) -> str:
    """When the run folder was made, ISO: from its DATE-TIME- name prefix, else the folder's mtime."""
    m = _FOLDER_TIME.match(d.name)
    if m:
        try:
            return _dt.datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").isoformat(timespec="seconds")
        except ValueError:
            pass
    try:
        return _dt.datetime.fromtimestamp(d.stat().st_mtime).isoformat(timespec="seconds")
    except (OSError, OverflowError, ValueError):
        return ""


def model_label(cfg: dict | None) -> str:
    """'scratch tiny', 'codebert-base', 'codet5-small' … from a run's config (model.source / size / name)."""
    m = cfg.get("model") if isinstance(cfg, dict) else None
    if not isinstance(m, dict):
        return ""
    source = m.get("source")
    name = m.get("name_or_path")
    if source in ("encoder", "seq2seq") and isinstance(name, str) and name:
        return name.rstrip("/").rsplit("/", 1)[-1]
    size = m.get("size")
    return f"scratch {size}" if source == "scratch" and isinstance(size, str) else str(source or "")


def read_config(d: Path) -> tuple[dict | None, str | None]:
    """(config dict, problem) of RUN_DIR/config.json: (None, None) when there is none."""
    p = d / CONFIG
    if not p.exists() and not p.is_symlink():
        return None, None
    try:
        cfg = json.loads(read_text(p, limit=8 << 20))
    except (OSError, ValueError) as e:
        return None, f"config.json: {_short(e)}"
    if not isinstance(cfg, dict):
        return None, f"config.json holds a {type(cfg).__name__}, not an object"
    return cfg, None


def file_problem(d: Path) -> str | None:
    """Why a run's files cannot be read as a run (None when they can): events.jsonl without one readable event,
    a results.csv without the language / bleu4 columns or with non-numbers in them."""
    ev = d / EVENTS
    if ev.is_symlink():
        return "events.jsonl is a symbolic link"
    try:
        if ev.is_file() and ev.stat().st_size:
            with open(ev, "rb") as fh:
                head = fh.read(256 << 10)
            lines = [ln for ln in head.split(b"\n")[:-1] if ln.strip()] or ([head] if len(head) < 256 << 10 else [])
            if lines and not any(decode(ln) is not None for ln in lines):
                return "events.jsonl has no readable event"
    except OSError as e:
        return f"events.jsonl: {_short(e)}"
    res = d / RESULTS
    if res.is_symlink():
        return "results.csv is a symbolic link"
    if res.is_file():
        try:
            header = next(csv.reader(io.StringIO(read_text(res, limit=1 << 20).split("\n", 1)[0])), [])
            if "language" not in header or "bleu4" not in header:
                return "results.csv has no language / bleu4 columns (not the engine's file)"
            read_results(d)
        except (OSError, ValueError, KeyError) as e:
            return f"results.csv: {_short(e)}"
    return None


def _short(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) < 160 else text[:157] + "…"


def _summary(d: Path) -> dict:
    """summarize(d) plus what the console lists: folder time, model, console name and notes, checkpoint,
    'unreadable' (the reason, when a file of the run is malformed; the run stays listed)."""
    problem = None
    try:
        info = summarize(d)
    except Exception as e:  # noqa: BLE001 - a malformed run file of any kind: list the run as unreadable
        info = {"name": d.name, "path": str(d), "started": None, "status": "unknown", "budget_seconds": None,
                "step": 0, "elapsed": 0.0, "best_dev_bleu": None, "results": {}, "last_event_time": None}
        problem = _short(e)
    cfg, cfg_problem = read_config(d)
    problem = problem or cfg_problem or file_problem(d)
    meta = read_meta(d)
    try:
        host = writer_host(d)
    except (OSError, ValueError):
        host = None
    info.update(folder=d.name, folder_time=folder_time(d), model=model_label(cfg), notes=meta.get("notes", ""),
                label=meta.get("name") or d.name, unreadable=problem, writer_host=host,
                has_checkpoint=checkpoint_dir(d, "last") is not None or checkpoint_dir(d, "best") is not None,
                preset_name=cfg.get("name") if isinstance(cfg, dict) and isinstance(cfg.get("name"), str) else "")
    info["never_started"] = info.get("started") is None
    return info


def unique_labels(runs: list[dict]) -> None:
    """Make every run's `label` unique: a repeated console name gets its folder name added."""
    seen: dict[str, int] = {}
    for r in runs:
        seen[r["label"]] = seen.get(r["label"], 0) + 1
    for r in runs:
        if seen[r["label"]] > 1 and r["label"] != r["folder"]:
            r["label"] = f"{r['label']} ({r['folder']})"


def _signature(d: Path) -> tuple:
    sig = []
    for name in (EVENTS, CONFIG, PID_FILE, RESULTS, META_FILE):
        try:
            st = (d / name).stat()
            sig.append((st.st_size, st.st_mtime_ns))
        except (OSError, ValueError):
            sig.append(None)
    return tuple(sig)


def scan_runs(base: Path, cache: dict) -> tuple[list[dict], dict]:
    """A summary (see _summary) for every run directory of `base`, reusing `cache` {path: (signature, summary,
    when, seconds)} for runs that did not change. A growing run is re-read at most every max(2 s, 10 x the time
    one read took), so a huge events.jsonl never keeps a core busy. Runs in a worker thread. One malformed run
    never hides the others."""
    out, new_cache = [], {}
    if not base.is_dir():
        return [], {}
    now = time.monotonic()
    for d in sorted(base.iterdir()):
        try:
            if not d.is_dir() or not is_run_dir(d):
                continue
        except OSError:
            continue
        key = str(d)
        sig = _signature(d)
        old = cache.get(key)
        if old is not None:
            osig, summary, when, took = old
            fresh = osig == sig
            if fresh and summary.get("status") == "running":
                fresh = writer_alive(d)                 # a run whose writer died is 'interrupted' now
            elif not fresh and (summary.get("status") == "running" or summary.get("writer_host")) and \
                    now - when < max(2.0, 10 * took) and sig[-1] == osig[-1]:
                fresh = True                            # growing: re-read later
                sig = osig
            if fresh:
                new_cache[key] = (sig, summary, when, took)
                out.append(dict(summary))
                continue
        t0 = time.perf_counter()
        summary = _summary(d)
        new_cache[key] = (sig, summary, now, time.perf_counter() - t0)
        out.append(dict(summary))
    unique_labels(out)
    out.sort(key=lambda r: r["started"] or r["folder_time"] or "", reverse=True)
    return out, new_cache
