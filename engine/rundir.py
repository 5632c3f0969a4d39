"""Run directory layout, atomic writes, and reading a run back (pure Python: the console uses it too).

RUN_DIR/
  config.json            resolved RunConfig
  env.json               versions, device, hostname, pid, command line
  events.jsonl           the event stream (see engine.events)
  checkpoints/last/      latest checkpoint: model + tokenizer (save_pretrained) + trainer_state.pt
  checkpoints/best/      best dev-BLEU checkpoint, same layout
  results.csv            language,split,n,bleu4,nltk_bleu4,decode_seconds,beam_size
  {lang}_{split}.output  predictions, `idx<TAB>text` per line (the CodeXGLUE evaluator's format)
  {lang}_{split}.gold    references, same format
  samples.jsonl          one JSON object per sample: language, split, idx, code, reference, prediction, bleu
  tokenizer/             the run's tokenizer (from-scratch models)
  worker.pid             pid of the process writing this run while it runs
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

from .events import read_events

RESULT_FIELDS = ["language", "split", "n", "bleu4", "nltk_bleu4", "decode_seconds", "beam_size"]
DEFAULT_RUNS_DIR = Path(os.environ.get("CRAM_RUNS_DIR", "runs"))


def new_run_dir(runs_dir: str | os.PathLike | None, name: str) -> Path:
    base = Path(runs_dir) if runs_dir else DEFAULT_RUNS_DIR
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in (name or "run"))
    d = base / f"{stamp}-{safe}"
    i = 1
    while d.exists():
        i += 1
        d = base / f"{stamp}-{safe}-{i}"
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


def checkpoint_dir(run_dir: str | os.PathLike, kind: str = "last") -> Path | None:
    """The usable checkpoint of a kind: `kind/` if complete, else the `kind.old/` left by a kill mid-swap."""
    base = Path(run_dir) / "checkpoints"
    for cand in (base / kind, base / f"{kind}.old"):
        if (cand / "trainer_state.json").is_file():
            return cand
    return None


def write_results(run_dir: str | os.PathLike, rows: list[dict]) -> None:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(Path(run_dir) / "results.csv", buf.getvalue())


def read_results(run_dir: str | os.PathLike) -> list[dict]:
    p = Path(run_dir) / "results.csv"
    if not p.is_file():
        return []
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("n", "beam_size"):
            if r.get(k) not in (None, ""):
                r[k] = int(float(r[k]))
        for k in ("bleu4", "nltk_bleu4", "decode_seconds"):
            if r.get(k) not in (None, ""):
                r[k] = float(r[k])
    return rows


def write_predictions(run_dir: str | os.PathLike, language: str, split: str,
                      predictions: list[str], references: list[str]) -> tuple[Path, Path]:
    """`{lang}_{split}.output` / `.gold` in the CodeXGLUE evaluator's format (idx<TAB>text)."""
    out = Path(run_dir) / f"{language}_{split}.output"
    gold = Path(run_dir) / f"{language}_{split}.gold"
    atomic_write_text(out, "".join(f"{i}\t{_one_line(p)}\n" for i, p in enumerate(predictions)))
    atomic_write_text(gold, "".join(f"{i}\t{_one_line(r)}\n" for i, r in enumerate(references)))
    return out, gold


def _one_line(s: str) -> str:
    return " ".join(s.split())


def write_samples(run_dir: str | os.PathLike, samples: list[dict]) -> None:
    atomic_write_text(Path(run_dir) / "samples.jsonl",
                      "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))


def read_samples(run_dir: str | os.PathLike) -> list[dict]:
    p = Path(run_dir) / "samples.jsonl"
    if not p.is_file():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def is_run_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return (p / "events.jsonl").is_file() or (p / "config.json").is_file()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def summarize(run_dir: str | os.PathLike) -> dict:
    """What a runs list shows: name, path, started (ISO), status, budget_seconds, step, elapsed, best_dev_bleu,
    results {lang: bleu4}, last_event_time. Status: running | completed | stopped | failed | interrupted."""
    d = Path(run_dir)
    info: dict[str, Any] = {"name": d.name, "path": str(d), "started": None, "status": "unknown",
                            "budget_seconds": None, "step": 0, "elapsed": 0.0, "best_dev_bleu": None,
                            "results": {}, "last_event_time": None}
    cfg_path = d / "config.json"
    if cfg_path.is_file():
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            info["budget_seconds"] = cfg.get("budget", {}).get("seconds")
            info["name"] = cfg.get("name") or d.name
        except ValueError:
            pass
    done = None
    for ev in read_events(d / "events.jsonl"):
        kind = ev.get("event")
        info["last_event_time"] = ev.get("time")
        if kind == "started":
            if info["started"] is None:
                info["started"] = _dt.datetime.fromtimestamp(ev.get("time", 0)).isoformat(timespec="seconds")
            info["budget_seconds"] = ev.get("budget_seconds", info["budget_seconds"])
            done = None
        elif kind == "step":
            info["step"] = ev.get("step", info["step"])
            info["elapsed"] = ev.get("elapsed", info["elapsed"])
        elif kind == "eval" and ev.get("dev_bleu") is not None:
            b = ev["dev_bleu"]
            info["best_dev_bleu"] = b if info["best_dev_bleu"] is None else max(info["best_dev_bleu"], b)
        elif kind == "result":
            info["results"][ev.get("language")] = ev.get("bleu4")
        elif kind == "done":
            done = ev
        elif kind == "error" and done is None:
            info["status"] = "failed"
    if done is not None:
        info["status"] = done.get("status") or ("stopped" if done.get("stopped") else "completed")
    else:
        pid_file = d / "worker.pid"
        alive = False
        if pid_file.is_file():
            try:
                alive = pid_alive(int(pid_file.read_text().strip()))
            except ValueError:
                alive = False
        if alive:
            info["status"] = "running"
        elif info["status"] != "failed" and info["last_event_time"] is not None:
            info["status"] = "interrupted"
    return info


def list_runs(runs_dir: str | os.PathLike) -> list[dict]:
    base = Path(runs_dir)
    if not base.is_dir():
        return []
    runs = [summarize(p) for p in sorted(base.iterdir()) if p.is_dir() and is_run_dir(p)]
    runs.sort(key=lambda r: r["started"] or "", reverse=True)
    return runs
