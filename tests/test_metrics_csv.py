"""metrics.csv: one row per step and eval event, written live through the emitter's mirror hook (appending, never
through a symlink) and rebuilt from events.jsonl by `cram export metrics`; read back with the csv module."""
import csv
import math
import os
import shutil
from pathlib import Path

import pytest

from conftest import tiny_config
from engine.contract.events import EventWriter, number, read_events
from engine.contract.files import UnsafePath
from engine.export_cli import main as export_main
from engine.mirrors import METRICS_FILE, MetricsCsv, Mirrors, export_metrics, metrics_text, open_mirrors


def synthetic_run(d: Path) -> list[dict]:
    """A short run's events through the real writer (fields checked against the contract)."""
    w = EventWriter(d / "events.jsonl")
    w.emit("started", config=tiny_config(**{"data.languages": ["python", "go"]}).to_dict(), step=0)
    for s in range(1, 4):
        w.emit("step", step=s, elapsed=0.1 * s, progress=0.1 * s, loss=5.0 - s, lr=1e-3 * s, tokens=100,
               tokens_per_s=1000.0 + s, examples=8, epoch=0, grad_norm=0.5 * s)
    w.emit("eval", step=3, elapsed=0.3, split="valid", dev_loss=3.5, dev_ppl=math.exp(3.5), dev_bleu=4.25,
           per_language={"python": 5.0, "go": 3.5}, n=40, eval_seconds=0.2, best=True)
    w.emit("checkpoint", kind="best", step=3, elapsed=0.3, path="x")
    w.emit("step", step=4, elapsed=0.4, progress=0.4, loss=float("nan"), lr=4e-3, tokens=100)
    w.emit("result", language="python", split="test", n=30, bleu4=6.0)
    w.emit("done", status="completed", step=4)
    w.close()
    return list(read_events(d / "events.jsonl"))


def rows_of(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def check_rows(rows: list[dict], events: list[dict]) -> None:
    """Each step/eval event is one row, in order, with its numbers."""
    wanted = [e for e in events if e["event"] in ("step", "eval")]
    assert [r["event"] for r in rows] == [e["event"] for e in wanted]
    for r, e in zip(rows, wanted):
        assert int(r["step"]) == e["step"] and float(r["time"]) == e["time"]
        keys = (["loss", "lr", "tokens_per_s", "grad_norm", "elapsed", "progress"] if e["event"] == "step"
                else ["dev_loss", "dev_ppl", "dev_bleu", "eval_seconds"])
        for k in keys:
            v = number(e.get(k))
            assert (r[k] == "") if v is None else float(r[k]) == v, (k, r[k], e.get(k))
        if e["event"] == "eval":
            assert r["best"] == str(bool(e.get("best"))) and int(r["dev_n"]) == e["n"]
            for lang, b in (e.get("per_language") or {}).items():
                assert float(r[f"dev_bleu_{lang}"]) == b


def test_live_rows_match_the_events_and_export_writes_the_same_file(tmp_path):
    events = synthetic_run(tmp_path)
    live = tmp_path / "live"
    live.mkdir()
    m = MetricsCsv(live)
    for ev in events:
        m.on_event(ev)
    m.close()
    rows = rows_of(live / METRICS_FILE)
    assert len(rows) == 5 and rows[-1]["loss"] == ""  # NaN became an empty cell
    check_rows(rows, events)
    assert list(rows[0])[-2:] == ["dev_bleu_python", "dev_bleu_go"]
    path, n = export_metrics(tmp_path)
    assert n == 5 and path.read_text() == (live / METRICS_FILE).read_text() == metrics_text(events)


def test_a_resumed_run_appends_under_its_header_after_a_torn_line(tmp_path):
    events = synthetic_run(tmp_path)
    m = MetricsCsv(tmp_path)
    for ev in events[:3]:
        m.on_event(ev)
    m.close()
    with open(tmp_path / METRICS_FILE, "a") as fh:
        fh.write("step,99,17")  # killed mid-row
    m = MetricsCsv(tmp_path)
    for ev in events[3:]:
        m.on_event(ev)
    m.close()
    lines = (tmp_path / METRICS_FILE).read_text().splitlines()
    assert lines[0].startswith("event,step,time,") and sum(ln.startswith("event,") for ln in lines) == 1
    rows = [r for r in rows_of(tmp_path / METRICS_FILE) if r["step"] != "99"]
    check_rows(rows, events)


def test_a_symlinked_metrics_file_is_refused_and_never_stops_training(tmp_path):
    events = synthetic_run(tmp_path)
    target = tmp_path / "elsewhere.csv"
    target.write_text("precious\n")
    mirrors = Mirrors([MetricsCsv(tmp_path)])
    os.symlink(target, tmp_path / METRICS_FILE)  # planted after the mirror was set up
    for ev in events:
        mirrors.on_event(ev)  # refused at the first row, reported on stderr and dropped: no exception
    assert mirrors.mirrors == [] and target.read_text() == "precious\n"
    with pytest.raises(UnsafePath):
        MetricsCsv(tmp_path)
    m = open_mirrors(tiny_config(), tmp_path)  # a training run: a warning, no mirror
    assert m.mirrors == [] and "symbolic link" in m.problems[0]
    with pytest.raises(UnsafePath):
        export_metrics(tmp_path)
    assert target.read_text() == "precious\n"


def test_export_metrics_cli(tmp_path, capsys):
    synthetic_run(tmp_path)
    assert export_main(["metrics", str(tmp_path)]) == 0
    assert "5 rows" in capsys.readouterr().out
    assert export_main(["metrics", str(tmp_path / "nothing")]) == 2
    assert "no events.jsonl" in capsys.readouterr().err


def test_open_mirrors_always_writes_metrics(tmp_path):
    cfg = tiny_config()
    m = open_mirrors(cfg, tmp_path)
    assert [type(x).__name__ for x in m.mirrors] == ["MetricsCsv"] and m.problems == []
    assert not (tmp_path / METRICS_FILE).exists()  # nothing written before the first row
    m.close()


@pytest.mark.slow
def test_training_writes_metrics_csv_live(tmp_path, stdlib_corpus):
    from engine import train

    w = EventWriter(tmp_path / "events.jsonl")
    try:
        assert train.run(tiny_config(**{"eval.every_seconds": 2}), tmp_path, w) == 0
    finally:
        w.close()
    assert (tmp_path / METRICS_FILE).is_file(), \
        "the emitter's mirror hook (engine.mirrors.open_mirrors) is not in place"
    events = list(read_events(tmp_path / "events.jsonl"))
    rows = rows_of(tmp_path / METRICS_FILE)
    assert len(rows) == sum(e["event"] in ("step", "eval") for e in events) > 5
    check_rows(rows, events)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(tmp_path / "events.jsonl", copy / "events.jsonl")
    path, _ = export_metrics(copy)
    assert path.read_text() == (tmp_path / METRICS_FILE).read_text()
