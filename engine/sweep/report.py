"""Reading a sweep back without Optuna: sweep.json (engine.contract.sweeps reads it, as the console does) and the
trial run directories (through engine.contract only). `cram sweep report D [--csv]` prints this; the metrics of one
trial (`trial_metrics`) are also what the workers put into sweep.json.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from engine.contract.events import number, read_events
from engine.contract.paths import LANGUAGES
from engine.contract.rundir import EVENTS, fold_status, run_status, writer_alive
from engine.contract.sweeps import load_sweep, param_names


def objective_of(ev: dict, metric: str) -> float | None:
    """The objective value of one `eval` event: dev_bleu (mean over the languages), dev_bleu.<lang>, dev_loss."""
    if metric == "dev_loss":
        return number(ev.get("dev_loss"))
    if metric.startswith("dev_bleu."):
        per = ev.get("per_language")
        return number(per.get(metric.split(".", 1)[1])) if isinstance(per, dict) else None
    return number(ev.get("dev_bleu"))


def pick_objective(values: list[float], pick: str, direction: str) -> float | None:
    if not values:
        return None
    if pick == "last":
        return values[-1]
    return min(values) if direction == "minimize" else max(values)


def trial_metrics(run_dir: str | os.PathLike, metric: str = "dev_bleu", pick: str = "best",
                  direction: str = "maximize") -> dict:
    """What a sweep knows about one trial from its run directory: status (the run's own), dev evaluations
    [(elapsed, value)], objective, best dev BLEU, trained/eval/wall seconds, tokens seen, test BLEU per language,
    the number of sessions (started events) and whether one was a resume."""
    d = Path(run_dir)
    out: dict[str, Any] = {"status": "unknown", "evals": [], "objective": None, "best_dev_bleu": None,
                           "trained_seconds": 0.0, "eval_seconds": 0.0, "wall_seconds": 0.0, "tokens_seen": None,
                           "test": {}, "test_mean": None, "floor": {}, "floor_mean": None, "above_floor": None,
                           "sessions": 0, "resumed": False, "done_status": None}
    folded = "unknown"
    step_tokens = 0
    session_start = last_time = None
    eval_sum = 0.0
    done_eval = None
    for ev in read_events(d / EVENTS):
        kind = ev.get("event")
        folded = fold_status(folded, ev)
        t = number(ev.get("time"))
        if kind == "started":
            if session_start is not None and last_time is not None:
                out["wall_seconds"] += max(0.0, last_time - session_start)
            session_start = t
            out["sessions"] += 1
            out["resumed"] = out["resumed"] or ev.get("resumed") is True
        if t is not None:
            last_time = t
        el = number(ev.get("elapsed"))
        if el is not None and kind in ("step", "eval", "done", "checkpoint"):
            out["trained_seconds"] = max(out["trained_seconds"], el)
        if kind == "step":
            step_tokens += int(number(ev.get("tokens")) or 0)
        elif kind == "eval":
            v = objective_of(ev, metric)
            if v is not None and el is not None:
                out["evals"].append((el, v))
            b = number(ev.get("dev_bleu"))
            if b is not None:
                out["best_dev_bleu"] = b if out["best_dev_bleu"] is None else max(out["best_dev_bleu"], b)
            eval_sum += number(ev.get("eval_seconds")) or 0.0
        elif kind == "result" and ev.get("split") == "test" and ev.get("language") in LANGUAGES:
            b = number(ev.get("bleu4"))
            if b is not None:
                out["test"][ev["language"]] = b
            fl = number(ev.get("floor_bleu4"))
            if fl is not None:
                out["floor"][ev["language"]] = fl
        elif kind == "done":
            out["done_status"] = ev.get("status") if isinstance(ev.get("status"), str) else None
            tok = number(ev.get("tokens_seen"))
            if tok is not None:
                out["tokens_seen"] = int(tok)
            done_eval = number(ev.get("eval_seconds"))
    if session_start is not None and last_time is not None:
        out["wall_seconds"] += max(0.0, last_time - session_start)
    if out["tokens_seen"] is None and step_tokens:
        out["tokens_seen"] = step_tokens
    out["eval_seconds"] = done_eval if done_eval is not None else eval_sum
    out["status"] = run_status(folded, writer_alive(d))
    out["objective"] = pick_objective([v for _, v in out["evals"]], pick, direction)
    if out["test"]:
        out["test_mean"] = sum(out["test"].values()) / len(out["test"])
    both = [lang for lang in out["test"] if lang in out["floor"]]
    if both:  # the constant-prediction floor of the same test splits, and what the trial adds over it
        out["floor_mean"] = sum(out["floor"][x] for x in both) / len(both)
        out["above_floor"] = sum(out["test"][x] - out["floor"][x] for x in both) / len(both)
    for k in ("trained_seconds", "eval_seconds", "wall_seconds"):
        out[k] = round(out[k], 3)
    return out


# -- the report ---------------------------------------------------------------------------------------------------
def read_sweep(sweep_dir: str | os.PathLike) -> dict:
    """sweep.json as of now (engine.contract.sweeps.load_sweep); ValueError when it is missing or not a sweep."""
    return load_sweep(sweep_dir)


def report_rows(sweep: dict) -> tuple[list[str], list[list]]:
    """The report table: one row per trial (varied values, status, objective, best dev BLEU, test BLEU per
    language and mean, trained seconds, tokens seen). Values are raw (numbers or None)."""
    names = param_names(sweep)
    langs = sorted({lang for t in sweep["trials"] for lang in (t.get("test") or {})})
    with_floor = any(number(t.get("floor_mean")) is not None for t in sweep["trials"])
    header = (["trial"] + names + ["status", "objective", "best_dev_bleu"] + [f"test_{lang}" for lang in langs]
              + ["test_mean"] + (["floor_mean", "above_floor"] if with_floor else [])
              + ["trained_s", "eval_s", "tokens_seen", "dir"])
    rows = []
    for t in sweep["trials"]:
        params = t.get("params") or {}
        test = t.get("test") or {}
        rows.append([t.get("number")] + [params.get(n) for n in names]
                    + [t.get("status"), t.get("objective"), t.get("best_dev_bleu")]
                    + [test.get(lang) for lang in langs]
                    + [t.get("test_mean")] + ([t.get("floor_mean"), t.get("above_floor")] if with_floor else [])
                    + [t.get("trained_seconds"), t.get("eval_seconds"), t.get("tokens_seen"), t.get("dir")])
    return header, rows


def _cell(v: Any, param: bool = False) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if param else f"{v:.2f}"
    return str(v)


def format_report(sweep: dict) -> str:
    header, rows = report_rows(sweep)
    n_params = len(param_names(sweep))
    table = [header] + [[_cell(v, 1 <= i <= n_params) for i, v in enumerate(r)] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    spec = sweep.get("spec") or {}
    b = sweep.get("budget") or {}
    obj = spec.get("objective") or {}
    out = [f"sweep {sweep.get('name')} ({sweep.get('state')}): sampler {(spec.get('sampler') or {}).get('name')}, "
           f"pruner {(spec.get('pruner') or {}).get('name')}, objective {obj.get('pick')} {obj.get('metric')} "
           f"({obj.get('direction')})", ""] + lines + [""]
    out.append(budget_line(b))
    best = sweep.get("best")
    if best:
        vals = ", ".join(f"{k}={_cell(v, True)}" for k, v in (best.get("params") or {}).items())
        out.append(f"best: trial {best.get('number')} ({vals}): objective {_cell(best.get('objective'))}, "
                   f"test mean BLEU {_cell(best.get('test_mean'))}  {best.get('dir')}")
    else:
        out.append("best: none yet (no completed trial with a dev evaluation)")
    return "\n".join(out) + "\n"


def budget_line(b: dict) -> str:
    def s(k):
        v = b.get(k)
        return f"{v:.1f}s" if isinstance(v, (int, float)) else "-"
    return (f"budget: {s('total_seconds')} total; trained {s('trained_seconds')}, dev evaluation "
            f"{s('eval_seconds')}, other overhead (start-up, test decoding) {s('overhead_seconds')}, reserved by "
            f"running trials {s('reserved_seconds')}, unused {s('unused_seconds')}")


def report_csv(sweep: dict) -> str:
    header, rows = report_rows(sweep)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in r])
    return buf.getvalue()
