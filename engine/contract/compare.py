"""Comparing runs: one row per run, one column per language plus the mean, and the config fields that differ.
Pure Python (the console uses it too)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from . import config as config_lib
from .files import read_text
from .paths import LANGUAGES
from .rundir import RunFileError, read_results, summarize


def _config(run_dir: Path) -> config_lib.RunConfig | None:
    p = Path(run_dir) / "config.json"
    try:
        return config_lib.RunConfig.from_dict(json.loads(read_text(p)))
    except (OSError, ValueError):  # ConfigError is a ValueError
        return None


def compare_runs(run_dirs: list[str | Path]) -> tuple[list[str], list[list], list[str]]:
    """(header, rows, problems): run, status, steps, trained s, best dev BLEU, one BLEU-4 column per language any
    run has (in the usual CodeXGLUE order), and the mean over the languages each run has; when any run knows its
    constant-prediction floor, also the mean floor and the mean BLEU above it. A run whose files cannot be read
    keeps its row (status `unreadable`, no numbers) and its reason is in `problems` ("RUN: message")."""
    runs, problems = [], []
    for d in run_dirs:
        info = summarize(d)
        try:
            rows = read_results(d)
        except RunFileError as e:
            problems.append(f"{d}: {e}")
            info = {**info, "status": "unreadable"}
            rows = []
        results = {r["language"]: r.get("bleu4") for r in rows} or dict(info["results"])
        floors = {r["language"]: r.get("floor_bleu4") for r in rows if r.get("floor_bleu4") is not None}
        runs.append((info, results, floors))
    langs = [lang for lang in LANGUAGES if any(lang in res for _, res, _ in runs)]
    with_floor = any(fl for _, _, fl in runs)
    header = ["run", "status", "steps", "trained_s", "best_dev_bleu", *langs, "mean"]
    if with_floor:
        header += ["mean_floor", "mean_above_floor"]
    out = []
    for info, res, floors in runs:
        vals = [res.get(lang) for lang in langs]
        present = [v for v in vals if v is not None]
        mean = sum(present) / len(present) if present else None
        row = [info["name"], info["status"], info["step"], round(info["elapsed"] or 0.0, 1),
               info["best_dev_bleu"], *vals, mean]
        if with_floor:
            fl = [floors[lang] for lang in langs if lang in floors and res.get(lang) is not None]
            above = [res[lang] - floors[lang] for lang in langs if lang in floors and res.get(lang) is not None]
            row += [sum(fl) / len(fl) if fl else None, sum(above) / len(above) if above else None]
        out.append(row)
    return header, out, problems


def compare_table(run_dirs: list[str | Path]) -> tuple[list[str], list[list]]:
    """compare_runs without the problems (unreadable runs show as status `unreadable`)."""
    header, rows, _ = compare_runs(run_dirs)
    return header, rows


def config_differences(run_dirs: list[str | Path]) -> dict[str, list]:
    """{field: [value per run]} for the fields whose values are not all equal."""
    cfgs = [_config(d) or config_lib.RunConfig() for d in run_dirs]
    out = {}
    for spec in config_lib.field_specs():
        vals = [config_lib.get_value(c, spec["name"]) for c in cfgs]
        if any(v != vals[0] for v in vals[1:]):
            out[spec["name"]] = vals
    return out


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def format_table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return buf.getvalue()
