"""Progress and outcomes: the phase in the status line, the final test decoding `k / N` with its own bar and ETA,
the total ETA including the evaluation still to come, the run card, a status line that fits a 1024 px window."""
from __future__ import annotations

import pytest

from cramgui.run_card import RunCard
from cramgui.run_state import RunState
from cramgui.status_bar import StatusPanel

GIB = 1 << 30


def started(**kw):
    ev = {"event": "started", "device": "cuda:0", "precision": "bf16", "budget_seconds": 100.0, "step": 0,
          "elapsed": 0.0, "n_params": 12_345_678, "n_train": 50_000, "world_size": 1,
          "config": {"name": "x", "model": {"source": "scratch", "size": "small"},
                     "data": {"max_test": 0}, "eval": {"split": "test"}}}
    ev.update(kw)
    return ev


def step(i, **kw):
    ev = {"event": "step", "step": i, "elapsed": float(i), "progress": i / 100.0, "loss": 3.0, "lr": 1e-3,
          "tokens": 1000, "tokens_per_s": 1000.0, "epoch": 1 + i // 60, "grad_norm": 0.5, "mfu": 0.3,
          "max_memory_allocated": 2 * GIB + i, "max_memory_reserved": 3 * GIB}
    ev.update(kw)
    return ev


@pytest.fixture
def panel(qtbot):
    p = StatusPanel()
    qtbot.addWidget(p)
    return p


def test_phases_in_the_status_line(qapp, panel):
    st = RunState()
    st.ingest(started())
    assert st.status["phase_text"] == "starting: importing"
    for phase, text in (("loading_data", "starting: loading data"), ("tokenizer", "starting: training the tokenizer"),
                        ("compiling", "starting: compiling")):
        st.ingest({"event": "phase", "phase": phase, "message": None})
        panel.update_status(st.status)
        assert st.status["phase_text"] == text and text in panel.text()
    st.ingest(step(1))                                     # steps mean training, with or without a phase event
    panel.update_status(st.status)
    assert st.status["phase"] == "training" and "| training |" in panel.text()
    st.ingest({"event": "phase", "phase": "dev_eval"})
    panel.update_status(st.status)
    assert "dev evaluation" in panel.text()
    st.ingest({"event": "phase", "phase": "checkpointing"})
    panel.update_status(st.status)
    assert "checkpointing" in panel.text()


def test_test_decoding_has_its_own_bar_and_the_eta_includes_it(qapp, panel):
    st = RunState()
    st.ingest_many([started(), {"event": "data", "language": "python", "split": "test", "n": 1000},
                    {"event": "data", "language": "java", "split": "test", "n": 3000}])
    st.ingest_many([step(i) for i in range(1, 51)])
    assert st.status["train_eta"] == pytest.approx(50.0)
    assert st.status["eval_eta"] is None and st.status["eta_seconds"] == pytest.approx(50.0)
    # a dev evaluation of 200 examples in 10 s: 0.05 s per example x 4000 test examples = 200 s still to come
    st.ingest({"event": "eval", "step": 50, "elapsed": 50.0, "dev_bleu": 3.0, "n": 200, "eval_seconds": 10.0})
    assert st.status["eval_eta"] == pytest.approx(200.0)
    assert st.status["eta_seconds"] == pytest.approx(250.0)
    panel.update_status(st.status)
    assert "ETA 0:04:10 (incl. eval ~0:03:20)" in panel.text()
    assert not panel.decode_bar.isVisibleTo(panel)

    # training is over; the final decoding reports its progress: its own bar, and an ETA that is not 0
    st.ingest_many([step(100, progress=1.0, elapsed=100.0), {"event": "phase", "phase": "test_decode"},
                    {"event": "progress", "task": "decode", "language": "python", "split": "test", "done": 250,
                     "total": 1000, "eta_seconds": 30.0}])
    panel.update_status(st.status)
    assert "test decoding python 250 / 1,000" in panel.text()
    assert panel.decode_bar.isVisibleTo(panel) and panel.decode_bar.value() == 250
    assert panel.decode_bar.text() == "250 / 1,000 · 0:00:30"
    # python: 30 s left; java (3000 examples) at python's rate 30 s / 750 examples = 120 s
    assert st.status["train_eta"] == 0.0
    assert st.status["eta_seconds"] == pytest.approx(150.0)
    assert panel.progress.value() == 1000                     # the budget bar is full, the ETA is not 0
    st.ingest({"event": "progress", "task": "decode", "language": "java", "split": "test", "done": 3000,
               "total": 3000, "eta_seconds": 0.0})
    st.ingest({"event": "progress", "task": "decode", "language": "python", "split": "test", "done": 1000,
               "total": 1000, "eta_seconds": 0.0})
    assert st.status["eta_seconds"] == pytest.approx(0.0)
    assert st.status["decode"]["all_done"] == 4000 and st.status["decode"]["all_total"] == 4000
    st.ingest({"event": "done", "status": "completed", "step": 100, "elapsed": 100.0})
    panel.update_status(st.status)
    assert st.status["phase"] == "finished" and st.status["eta_seconds"] == 0.0
    assert "test decoding" not in panel.text()                # the run ended: no phase shown


def test_a_data_task_progress_is_not_decoding(qapp):
    st = RunState()
    st.ingest_many([started(), {"event": "progress", "task": "build", "done": 3, "total": 10}])
    assert st.status["decode"] is None and st.decode == {}


def test_run_card(qapp, qtbot):
    st = RunState()
    card = RunCard(st)
    qtbot.addWidget(card)
    assert card.text() == "" and card.isHidden()                # nothing known yet: no empty card
    st.ingest_many([started()] + [step(i) for i in range(1, 121)])
    card.refresh()
    items = dict(card.items())
    assert items["model"] == "from scratch, small"
    assert items["parameters"] == "12.3M" and items["training examples"] == "50,000"
    assert items["device"] == "cuda:0 · bf16"
    assert items["epoch"] == "3" and items["tokens seen"] == "120.0k"
    assert items["peak GPU memory"] == "2.0 GiB allocated, 3.0 GiB reserved"
    assert "parameters 12.3M" in card.text() and "peak GPU memory" in card.text()
    # a CPU run has no memory entry; a resumed run says so
    cpu = RunState()
    cpu.ingest_many([started(device="cpu", precision="fp32"), step(1, max_memory_allocated=None,
                                                                  max_memory_reserved=None),
                     started(device="cpu", precision="fp32", resumed=True, step=1, elapsed=1.0)])
    items = dict(RunCard(cpu).items())
    assert "peak GPU memory" not in items and items["resumed"] == "1×" and items["device"] == "cpu · fp32"


def test_status_line_fits_1024_px_without_overlap(qapp, qtbot):
    from PySide6.QtWidgets import QHBoxLayout, QWidget
    bar = QWidget()                        # as the status bar holds it: a layout that gives it its room
    lay = QHBoxLayout(bar)
    lay.setContentsMargins(0, 0, 0, 0)
    panel = StatusPanel()
    lay.addWidget(panel)
    qtbot.addWidget(bar)
    st = RunState()
    st.ingest_many([started(), step(10)])
    panel.set_run("2024-05-01-120000-a-very-long-run-name-that-goes-on")
    panel.update_status(st.status, "running on a-very-long-host-name.cluster.example.org")
    bar.resize(600, 24)
    bar.show()
    qtbot.waitExposed(bar)
    assert panel.minimumSizeHint().width() <= 560 and panel.sizeHint().width() <= 760

    def side_by_side():
        shown = [w for w in panel.widgets if w.isVisible()]
        return all(a.geometry().right() < b.geometry().left() for a, b in zip(shown, shown[1:])) \
            and shown[-1].geometry().right() <= panel.width()
    qtbot.waitUntil(side_by_side)                                   # side by side, never on top of each other
    assert panel.run_label.is_elided()                              # the long name is elided, full in its tooltip
    assert "a-very-long-run-name" in panel.run_label.toolTip()
    for w in (panel.step_label, panel.eta_label):
        assert w.isVisible() and not w.is_elided()                  # the numbers are never cut
    # narrower: device, tokens/s and loss give way (whole labels, never overlapping), their values still said
    bar.resize(560, 24)
    qtbot.waitUntil(lambda: not panel.device_label.isVisible() and side_by_side())
    assert "device cuda:0" in panel.text()
    bar.resize(1000, 24)                                          # and back: everything shown again
    qtbot.waitUntil(lambda: panel.device_label.isVisible() and panel.loss_label.isVisible())
