"""Item 5: GUI responsiveness. Each measurement runs in a fresh process (bench/gui_probe.py), offscreen Qt.

  lateness   worst delays of a 10 ms QTimer (p99 and max) while the main window ingests 2,000 step events/s from
             the scripted fake engine (tests/gui/fake_engine.py) through cramgui.worker.EngineWorker
  redraw     TrainingPlots.redraw_now() + QWidget.grab() (forced full paint) with a 1,000,000-point loss curve and
             its EMA: the full case (EMA recomputed from scratch, as after a smoothing change) and the live case
             (100 new points, EMA extended)
  coldstart  spawn -> the cramgui main window shown and painted, following cramgui.app.main's steps (app.py has no
             quit-after-show switch); median of several starts (warm file cache after the first)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from .common import ROOT, ItemResult, Row, log, median

TARGET_LATENESS_MS = 50.0
TARGET_REDRAW_MS = 50.0
TARGET_COLD_S = 2.0


def probe(*args: str, timeout: float = 300.0) -> tuple[dict, float]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    t_spawn = time.time()
    p = subprocess.run([sys.executable, "-m", "bench.gui_probe", *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            return json.loads(line[len("BENCH-JSON "):]), t_spawn
    raise RuntimeError(f"gui probe {args} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")


def run(seconds: float = 10.0, rate: float = 2000.0, points: int = 1_000_000, starts: int = 5) -> ItemResult:
    res = ItemResult("gui")
    log(f"gui: event-loop lateness, {rate:.0f} events/s for {seconds:.0f}s")
    lat, _ = probe("lateness", "--rate", str(rate), "--seconds", str(seconds))
    p99 = lat["lateness"].get("p99_ms")
    res.rows.append(Row("5 gui", f"10ms timer lateness p99 ms @{lat['events_per_s'] or 0:,.0f} ev/s", p99, None, None,
                        f"< {TARGET_LATENESS_MS:.0f} ms", p99 is not None and p99 < TARGET_LATENESS_MS,
                        note=f"max {lat['lateness'].get('max_ms', 0):.1f} ms"))
    log(f"gui: redraw of a {points:,}-point curve")
    red, _ = probe("redraw", "--points", str(points))
    full = red["full"]["total"]["p50_ms"]
    incr = red["incremental"]["total"]["p50_ms"]
    res.rows.append(Row("5 gui", f"full redraw+paint ms, {points // 1000}k pts + EMA", full, None, None,
                        f"< {TARGET_REDRAW_MS:.0f} ms", full < TARGET_REDRAW_MS,
                        note=f"redraw {red['full']['redraw']['p50_ms']:.1f} + "
                             f"paint {red['full']['paint']['p50_ms']:.1f}"))
    res.rows.append(Row("5 gui", "live redraw+paint ms (+100 pts)", incr, None, None,
                        f"< {TARGET_REDRAW_MS:.0f} ms", incr < TARGET_REDRAW_MS))
    log(f"gui: cold start x{starts}")
    colds = []
    for _ in range(starts):
        c, t_spawn = probe("coldstart", timeout=60)
        c["spawn_to_painted_s"] = (c["t_painted"] - t_spawn) if c.get("t_painted") else None
        c["interpreter_start_s"] = c["t_process"] - t_spawn
        colds.append(c)
    cold = median([c["spawn_to_painted_s"] for c in colds])
    res.rows.append(Row("5 gui", "cold start to painted window s", cold, None, None, f"< {TARGET_COLD_S:.0f} s",
                        cold is not None and cold < TARGET_COLD_S,
                        note=f"first {colds[0]['spawn_to_painted_s']:.2f}s; "
                             f"imports {median([c['imports_s'] for c in colds]):.2f}s"))
    res.details = {"lateness": lat, "redraw": red, "coldstart": colds,
                   "torch_imported_by_gui": any(x.get("torch_imported") for x in [lat, red, *colds])}
    return res
