"""Compare's dev BLEU overlay: against training seconds and tokens seen, an early end marked, CSV/PNG exports."""
from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from engine.contract.events import encode

from cramgui.compare_curves import CompareCurves, dev_curve


def run(d: Path, points: list[tuple[float, int, float]], status: str) -> Path:
    d.mkdir()
    lines = [encode("started", resumed=False, elapsed=0.0)]
    for el, tok, b in points:
        lines += [encode("step", elapsed=el, tokens=tok), encode("eval", elapsed=el, dev_bleu=b)]
    lines.append(encode("eval", elapsed=99.0, dev_loss=2.0))  # no BLEU: not a point
    lines.append(encode("done", status=status))
    (d / "events.jsonl").write_text("\n".join(lines) + "\n")
    return d


def test_overlay_axes_marks_and_exports(qtbot, tmp_path, monkeypatch):
    a = run(tmp_path / "a", [(10.0, 500, 1.0), (20.0, 700, 2.0)], "completed")
    b = run(tmp_path / "b", [(10.0, 900, 0.5)], "pruned")
    w = CompareCurves()
    qtbot.addWidget(w)
    w.set_runs([a, b], ["run a", "run b"])
    assert w.series() == [("run a", [10.0, 20.0], [1.0, 2.0]), ("run b", [10.0], [0.5])]
    assert w.plot.getPlotItem().getAxis("bottom").labelText == "training time (s)"
    w.set_x_axis("tokens")
    assert w.series() == [("run a", [500.0, 1200.0], [1.0, 2.0]), ("run b", [900.0], [0.5])]
    assert w.plot.getPlotItem().getAxis("bottom").labelText == "tokens seen"
    names = [item.name() for item in w.plot.getPlotItem().listDataItems() if item.name()]
    assert names == ["run a", "run b (pruned)"]
    crosses = [i for i in w.plot.getPlotItem().items if type(i).__name__ == "ScatterPlotItem"]
    assert len(crosses) == 1  # only the pruned run ends early
    assert dev_curve(b)["status"] == "pruned"
    out = tmp_path / "curves.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    w.csv_btn.click()
    rows = list(csv.reader(out.open()))
    assert rows == [["run", "status", "elapsed", "tokens_seen", "dev_bleu"],
                    ["run a", "completed", "10.0", "500", "1.0"], ["run a", "completed", "20.0", "1200", "2.0"],
                    ["run b", "pruned", "10.0", "900", "0.5"]]
    png = tmp_path / "curves.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(png), ""))
    w.png_btn.click()
    assert png.read_bytes()[:4] == b"\x89PNG"
    w.set_runs([])
    assert w.series() == [] and "no dev evaluation yet" in w.plot.getPlotItem().titleLabel.text
