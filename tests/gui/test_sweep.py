"""The Sweep dialog and the Sweep view: hand-written sweep.json + trial run directories, a scripted fake sweep
process for Stop / Resume, and one real tiny sweep."""
from __future__ import annotations

import csv
import json
import socket
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog

from engine.contract.events import encode
from engine.contract.sweeps import read_sweep

from cramgui.sweep_dialog import SweepDialog, parse_values
from cramgui.sweep_plots import best_so_far, log_scaled
from cramgui.sweep_view import SweepView
from cramgui.worker import EngineWorker

ROOT = Path(__file__).resolve().parents[2]


def tiny_cfg():
    from engine.contract import config as config_lib

    cfg = config_lib.preset("smoke")
    for k, v in {"budget.seconds": 5, "eval.every_seconds": 2}.items():
        config_lib.set_value(cfg, k, v)
    return cfg


# -- the dialog --------------------------------------------------------------------------------------------------
def test_parse_values_lists_ranges_and_problems():
    assert parse_values("train.lr", "1e-3, 3e-3") == ({"values": [1e-3, 3e-3]}, None)
    assert parse_values("train.batch_size", "8..64") == ({"low": 8, "high": 64}, None)
    assert parse_values("train.lr", "5") == (None, "'5': 5.0 is above the maximum 1.0 (allowed 1e-07..1.0)")
    assert parse_values("train.lr", "1e-2..1e-3")[1] == "low must be below high"
    assert parse_values("train.schedule", "constant, linear") == ({"values": ["constant", "linear"]}, None)
    assert "not a number" in parse_values("train.schedule", "a..b")[1]


def test_dialog_plans_trials_and_writes_the_spec(qtbot, tmp_path):
    from engine.sweep import spec as spec_lib

    dlg = SweepDialog(tiny_cfg(), runs_dir=tmp_path)
    qtbot.addWidget(dlg)
    ok = dlg.buttons.button(QDialogButtonBox.Ok)
    assert not ok.isEnabled() and "tick at least one setting" in dlg.summary.text()
    dlg.edits["train.lr"].setText("1e-3, 3e-3")
    assert dlg.ticks["train.lr"].isChecked()  # typing values ticks the row
    dlg.edits["train.batch_size"].setText("8, 16")
    dlg.total.setValue(20)
    assert ok.isEnabled()
    assert dlg.summary.text() == "4 trials (grid of 4), 5 s of training each = 20 s of the 20 s total budget"
    dlg.total.setValue(12)
    assert dlg.summary.text().startswith("2 trials (grid of 4), 5 s of training each = 10 s")
    dlg.total.setValue(3)
    assert not ok.isEnabled() and "cannot fit one trial of 5 s" in dlg.summary.text()
    dlg.total.setValue(20)
    dlg.edits["train.batch_size"].setText("8, 0")
    assert not ok.isEnabled()
    assert dlg.summary.text() == "Cannot start: train.batch_size: '0': 0 is below the minimum 1 (allowed 1..4096)"
    dlg.edits["train.batch_size"].setText("8..32")
    assert "a range needs sampler random or tpe" in dlg.summary.text()
    dlg.sampler.setCurrentText("random")
    dlg.n_trials.setValue(3)
    assert ok.isEnabled() and dlg.summary.text().startswith("3 trials, 5 s of training each")
    dlg.pruner.setCurrentText("successive-halving")
    dlg.logs["train.lr"].setChecked(True)  # a list stays a list; log applies to ranges
    dlg.name.setText("my sweep")
    dlg.accept()
    assert dlg.result() == QDialog.Accepted
    d = dlg.sweep_dir
    assert d.parent == tmp_path / "sweeps" and d.name.endswith("my-sweep")
    s = spec_lib.load(dlg.spec_path)  # the engine accepts what the dialog wrote
    assert s.sampler == "random" and s.pruner == "successive-halving" and s.n_trials == 3
    assert s.total_seconds == 20 and s.planned_trials() == 3
    assert {p.name: p.to_dict() for p in s.params} == {
        "train.lr": {"name": "train.lr", "values": [1e-3, 3e-3]},
        "train.batch_size": {"name": "train.batch_size", "low": 8, "high": 32, "log": False, "type": "int"}}
    assert s.base().budget.seconds == 5 and s.base().eval.every_seconds == 2


def test_dialog_pruner_needs_dev_evaluations(qtbot, tmp_path):
    cfg = tiny_cfg()
    cfg.eval.every_seconds = 0
    dlg = SweepDialog(cfg, runs_dir=tmp_path)
    qtbot.addWidget(dlg)
    dlg.edits["train.lr"].setText("1e-3, 3e-3")
    dlg.pruner.setCurrentText("hyperband")
    assert "set eval.every_seconds above 0" in dlg.summary.text()
    dlg.edits["eval.every_seconds"].setText("2")
    assert dlg.buttons.button(QDialogButtonBox.Ok).isEnabled()


# -- a hand-written sweep ---------------------------------------------------------------------------------------------
def write_trial(d: Path, name: str, evals: list[tuple[float, float]], status: str, tokens_per_eval: int = 1000,
                resumed_at: float | None = None) -> None:
    d.mkdir(parents=True)
    lines = [encode("started", resumed=False, step=0, elapsed=0.0, budget_seconds=5.0)]
    for i, (el, b) in enumerate(evals):
        lines.append(encode("step", step=10 * (i + 1), elapsed=el, tokens=tokens_per_eval, loss=3.0))
        lines.append(encode("eval", step=10 * (i + 1), elapsed=el, dev_bleu=b, split="valid"))
        if resumed_at is not None and el == resumed_at:
            lines.append(encode("started", resumed=True, step=10 * (i + 1), elapsed=el))
    if status != "running":
        lines.append(encode("done", status=status, elapsed=evals[-1][0] if evals else 0.0))
    (d / "events.jsonl").write_text("\n".join(lines) + "\n")
    (d / "config.json").write_text(json.dumps({"name": name, "budget": {"seconds": 5.0}}))


def fake_sweep(tmp_path: Path, state: str = "completed") -> Path:
    d = tmp_path / "sweep"
    d.mkdir()
    t0 = 1000.0
    trials = [
        {"number": 0, "params": {"train.lr": 0.001, "train.batch_size": 8}, "status": "completed", "objective": 3.0,
         "best_dev_bleu": 3.0, "test_mean": 2.0, "trained_seconds": 5.0, "tokens_seen": 3000,
         "dir": "trial-000-a", "started": t0, "finished": t0 + 10},
        {"number": 1, "params": {"train.lr": 0.01, "train.batch_size": 8}, "status": "pruned", "objective": 0.5,
         "best_dev_bleu": 0.5, "test_mean": None, "trained_seconds": 2.0, "tokens_seen": 1000,
         "dir": "trial-001-b", "started": t0 + 10, "finished": t0 + 15},
        {"number": 2, "params": {"train.lr": 0.003, "train.batch_size": 16}, "status": "completed",
         "objective": 4.5, "best_dev_bleu": 4.5, "test_mean": 3.1, "trained_seconds": 5.0, "tokens_seen": 3000,
         "dir": "trial-002-c", "started": t0 + 15, "finished": t0 + 30},
        {"number": 3, "params": {"train.lr": 0.0001, "train.batch_size": 16}, "status": "running",
         "objective": 0.1, "best_dev_bleu": 0.1, "trained_seconds": 2.0, "dir": "trial-003-d", "started": t0 + 30},
    ]
    write_trial(d / "trial-000-a", "a", [(2.0, 1.0), (4.0, 2.5), (5.0, 3.0)], "completed")
    write_trial(d / "trial-001-b", "b", [(2.0, 0.5)], "stopped")
    write_trial(d / "trial-002-c", "c", [(2.0, 2.0), (4.0, 4.0), (5.0, 4.5)], "completed", resumed_at=4.0)
    write_trial(d / "trial-003-d", "d", [(2.0, 0.1)], "running")
    # trial 3's worker died on this host: its claim names a dead process
    (d / "claims").mkdir()
    (d / "claims" / "trial-003.json").write_text(json.dumps({"host": socket.gethostname(), "pid": 2**31 - 2}))
    sweep = {"name": "fake", "state": state, "planned_trials": 6,
             "spec": {"params": [{"name": "train.lr", "values": [0.0001, 0.001, 0.003, 0.01]},
                                 {"name": "train.batch_size", "values": [8, 16]}],
                      "objective": {"metric": "dev_bleu", "pick": "best", "direction": "maximize"},
                      "sampler": {"name": "grid"}, "pruner": {"name": "successive-halving"}},
             "budget": {"total_seconds": 30.0, "trained_seconds": 14.0, "eval_seconds": 1.5,
                        "overhead_seconds": 9.0, "reserved_seconds": 3.0, "unused_seconds": 13.0},
             "trials": trials}
    (d / "sweep.json").write_text(json.dumps(sweep))
    return d


def test_read_sweep_marks_a_dead_workers_trial_interrupted(tmp_path):
    d = fake_sweep(tmp_path, state="running")
    s = read_sweep(d)
    assert [t["status"] for t in s["trials"]] == ["completed", "pruned", "completed", "interrupted"]
    assert s["state"] == "interrupted"
    assert log_scaled(s, "train.lr") and not log_scaled(s, "train.batch_size")
    assert best_so_far(s) == [(10.0, 3.0), (30.0, 4.5)]
    (d / "sweep.json").write_text("{broken")
    assert read_sweep(d) is None


def test_view_table_plots_compare_and_exports(qtbot, tmp_path, monkeypatch):
    d = fake_sweep(tmp_path)
    v = SweepView()
    qtbot.addWidget(v)
    v.open(d)
    assert "Sweep fake — completed: 4 trials of 6 planned; sampler grid, pruner successive-halving" in v.info.text()
    assert "unused 13.0 s" in v.budget.text()
    header = [v.table.horizontalHeaderItem(c).text() for c in range(v.table.columnCount())]
    assert header == ["trial", "train.lr", "train.batch_size", "status", "objective", "best dev BLEU", "test mean",
                      "trained s", "tokens seen", "dir"]
    rows = [[v.table.item(r, c).text() for c in range(len(header))] for r in range(v.table.rowCount())]
    assert rows[1][:5] == ["1", "0.01", "8", "pruned", "0.50"] and rows[3][3] == "interrupted"
    # objective by parameter: log x for the learning rate, one point per trial with an objective
    name, pts = v.param_points()
    assert name == "train.lr" and [p[0] for p in pts] == [0, 1, 2, 3]
    assert v.plots["params"].getPlotItem().ctrl.logXCheck.isChecked()
    v.param_combo.setCurrentText("train.batch_size")
    assert not v.plots["params"].getPlotItem().ctrl.logXCheck.isChecked()
    # dev BLEU curves: the resumed trial keeps one point per evaluation; the pruned one ends with a cross
    assert v.curves[2]["elapsed"] == [2.0, 4.0, 5.0] and v.curves[1]["status"] == "stopped"
    crosses = [i for i in v.plots["curves"].getPlotItem().items if type(i).__name__ == "ScatterPlotItem"]
    assert len(crosses) == 2  # the pruned trial and the interrupted one
    # selecting trials opens them in Compare
    got = []
    v.compare_requested.connect(got.append)
    assert not v.compare_btn.isEnabled()
    v.select_trials([0, 2])
    assert v.compare_btn.isEnabled()
    v.compare_btn.click()
    assert got == [[str(d / "trial-000-a"), str(d / "trial-002-c")]]
    assert v.resume_btn.isEnabled() is False  # a completed sweep has nothing to resume
    # exports through save_as
    out = {}
    for key in ("table", "params_csv", "curves_csv", "best_csv", "curves_png"):
        p = tmp_path / f"{key}.{'png' if key.endswith('png') else 'csv'}"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, p=p, **k: (str(p), ""))
        if key == "table":
            v.csv_btn.click()
        else:
            plot, ext = key.rsplit("_", 1)
            v.findChild(type(v.csv_btn), f"export_{plot}_{ext}").click()
        assert p.is_file() and p.stat().st_size > 0, key
        out[key] = p
    table = list(csv.reader(out["table"].open()))
    assert table[0] == header and table[2][3] == "pruned" and len(table) == 5
    curves = list(csv.reader(out["curves_csv"].open()))
    assert curves[0] == ["trial", "status", "elapsed", "tokens_seen", "dev_bleu"]
    assert [r[0] for r in curves[1:]].count("2") == 3
    assert list(csv.reader(out["best_csv"].open()))[1:] == [["10.0", "3.0"], ["30.0", "4.5"]]
    assert out["curves_png"].read_bytes()[:4] == b"\x89PNG"


def test_dev_curve_tokens_rewind_on_resume(tmp_path):
    from cramgui.compare_curves import dev_curve

    d = tmp_path / "r"
    d.mkdir()
    lines = [encode("started", resumed=False, elapsed=0.0),
             encode("step", elapsed=1.0, tokens=100), encode("eval", elapsed=1.0, dev_bleu=1.0),
             encode("step", elapsed=2.0, tokens=100), encode("eval", elapsed=2.0, dev_bleu=2.0),
             # killed after 2 s; the checkpoint was at 1 s: the resume replays 1..2 s
             encode("started", resumed=True, elapsed=1.0),
             encode("step", elapsed=2.0, tokens=150), encode("eval", elapsed=2.0, dev_bleu=2.5),
             encode("done", status="completed", elapsed=2.0)]
    (d / "events.jsonl").write_text("\n".join(lines) + "\n")
    c = dev_curve(d)
    assert c == {"elapsed": [1.0, 2.0], "tokens": [100.0, 250.0], "bleu": [1.0, 2.5], "status": "completed"}


# -- Stop / Resume with a scripted sweep process ---------------------------------------------------------------
FAKE_SWEEP = r'''
import json, os, signal, sys, time
args = sys.argv[1:]
resume = args[0] == "--resume"
d = args[1] if resume else args[args.index("--sweep-dir") + 1]
def write(state, status):
    s = {"name": "scripted", "state": state, "spec": {"params": [{"name": "train.lr", "values": [0.001]}]},
         "budget": {}, "trials": [{"number": 0, "params": {"train.lr": 0.001}, "status": status, "dir": None}]}
    tmp = os.path.join(d, ".sweep.json.tmp")
    open(tmp, "w").write(json.dumps(s))
    os.replace(tmp, os.path.join(d, "sweep.json"))
def ev(**kw):
    kw.update(v=1, time=time.time()); print(json.dumps(kw), flush=True)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
if resume:
    write("completed", "completed"); ev(event="log", level="info", message="trial 0 resumed")
    ev(event="done", status="completed", stopped=False); sys.exit(0)
write("running", "running")
ev(event="progress", task="sweep", done=0, total=1, message="trial 0 started")
while not stop:
    time.sleep(0.05)
write("stopped", "interrupted")
ev(event="done", status="stopped", stopped=True)
'''


def test_view_stop_then_resume(qtbot, qloop, tmp_path):
    script = tmp_path / "fake_sweep.py"
    script.write_text(FAKE_SWEEP)
    d = tmp_path / "sw"
    d.mkdir()
    v = SweepView(worker_factory=lambda: EngineWorker([sys.executable, str(script)]))
    qtbot.addWidget(v)
    v.start(d / "sweep.toml", d)
    qtbot.waitUntil(lambda: v.sweep is not None and v.sweep["state"] == "running" and v.stop_btn.isEnabled(),
                    timeout=20_000)
    assert not v.resume_btn.isEnabled()
    assert v.worker.args == [str(d / "sweep.toml"), "--sweep-dir", str(d), "--jsonl"]
    qtbot.waitUntil(lambda: any("trial 0 started" in m for m in v.messages), timeout=10_000)
    v.stop_btn.click()
    qtbot.waitUntil(lambda: not v.running(), timeout=20_000)
    assert v.sweep["state"] == "stopped" and "sweep stopped" in v.messages
    assert v.resume_btn.isEnabled() and not v.stop_btn.isEnabled()
    v.resume_btn.click()
    qtbot.waitUntil(lambda: not v.running() and v.sweep["state"] == "completed", timeout=20_000)
    assert v.worker.args == ["--resume", str(d), "--jsonl"]
    assert "sweep completed" in v.messages and not v.resume_btn.isEnabled()


# -- one real tiny sweep -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_real_tiny_sweep_in_the_view(qtbot, qloop, tmp_path, stdlib_corpus):
    d = tmp_path / "real"
    d.mkdir()
    spec = d / "sweep.toml"
    spec.write_text("""
name = "gui"
[base]
preset = "smoke"
set = ["budget.seconds=3", "eval.every_seconds=1.5", "data.max_train=300", "data.max_valid=30", "data.max_test=30",
       "eval.dev_subset=20", "eval.beam_size=2", "eval.samples=5", "model.vocab_size=600", "hardware.threads=1",
       "data.site_packages_train=false"]
[params]
"train.lr" = [1e-3, 3e-3]
[budget]
total_seconds = 6
""")
    v = SweepView()
    qtbot.addWidget(v)
    v.start(spec, d)
    qtbot.waitUntil(lambda: not v.running(), timeout=300_000)
    assert v.sweep["state"] == "completed", v.messages
    assert [v.table.item(r, 2).text() for r in range(v.table.rowCount())] == ["completed", "completed"]
    assert all(v.curves[n]["bleu"] for n in (0, 1))
    assert any(m.startswith("[2/2] trial 1 completed") for m in v.messages)
    got = []
    v.compare_requested.connect(got.append)
    v.select_trials([0, 1])
    v.compare_btn.click()
    assert len(got[0]) == 2 and all(Path(p).is_dir() for p in got[0])


@pytest.fixture
def stdlib_corpus():
    from engine import corpus

    return corpus.ensure_builtin_corpus()
