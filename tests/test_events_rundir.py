"""The event stream and the run directory: encoding, torn lines, atomic writes, checkpoint swaps, summaries."""
import io
import json
import os

from engine.contract import events, rundir


def test_encode_decode_and_nonfinite_values():
    line = events.encode("step", step=3, loss=float("nan"), lr=float("inf"), tokens_per_s=12.5)
    obj = json.loads(line)
    assert obj["v"] == 1 and obj["event"] == "step" and obj["loss"] is None and obj["lr"] is None
    assert events.decode(line)["tokens_per_s"] == 12.5
    assert events.decode("") is None and events.decode("{not json") is None and events.decode("[1]") is None


def test_writer_appends_to_file_and_stream_and_survives_torn_line(tmp_path):
    p = tmp_path / "events.jsonl"
    p.write_text(events.encode("log", level="info", message="a") + "\n" + '{"v":1,"event":"st')
    out = io.StringIO()
    w = events.EventWriter(p, out)
    w.emit("step", step=1, loss=2.0)
    w.close()
    evs = list(events.read_events(p))
    assert [e["event"] for e in evs] == ["log", "step"]
    assert json.loads(out.getvalue())["step"] == 1


def test_atomic_write_and_replace_dir(tmp_path):
    f = tmp_path / "a.json"
    rundir.atomic_write_json(f, {"x": 1})
    assert json.loads(f.read_text()) == {"x": 1}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    ck = tmp_path / "checkpoints"
    old = ck / "last"
    old.mkdir(parents=True)
    (old / "trainer_state.json").write_text('{"step": 1}')
    new = ck / ".last.tmp-1"
    new.mkdir()
    (new / "trainer_state.json").write_text('{"step": 2}')
    rundir.replace_dir(new, old)
    assert json.loads((ck / "last" / "trainer_state.json").read_text())["step"] == 2
    assert not (ck / "last.old").exists()


def test_checkpoint_dir_falls_back_to_old_after_kill_mid_swap(tmp_path):
    ck = tmp_path / "checkpoints"
    (ck / "last.old").mkdir(parents=True)
    (ck / "last.old" / "trainer_state.json").write_text("{}")
    assert rundir.checkpoint_dir(tmp_path, "last") == ck / "last.old"
    (ck / "last").mkdir()  # incomplete: no trainer_state.json
    assert rundir.checkpoint_dir(tmp_path, "last") == ck / "last.old"


def test_results_and_predictions_files(tmp_path):
    rows = [{"language": "ruby", "split": "test", "n": 3, "bleu4": 12.5, "nltk_bleu4": 3.25, "decode_seconds": 1.5,
             "beam_size": 10}]
    rundir.write_results(tmp_path, rows)
    assert rundir.read_results(tmp_path) == rows
    out, gold = rundir.write_predictions(tmp_path, "ruby", "test", ["a  b\nc", ""], ["x", "y z"])
    assert out.read_text() == "0\ta b c\n1\t\n" and gold.read_text() == "0\tx\n1\ty z\n"


def test_summarize_statuses(tmp_path):
    d = tmp_path / "r1"
    w = events.EventWriter(d / "events.jsonl")
    w.emit("started", budget_seconds=60)
    w.emit("step", step=5, elapsed=3.0)
    w.emit("eval", dev_bleu=4.0)
    w.emit("eval", dev_bleu=6.5)
    s = rundir.summarize(d)
    assert s["status"] == "interrupted" and s["step"] == 5 and s["best_dev_bleu"] == 6.5
    (d / "worker.pid").write_text(str(os.getpid()))
    assert rundir.summarize(d)["status"] == "running"
    w.emit("result", language="python", bleu4=11.0)
    w.emit("done", status="completed", stopped=False)
    w.close()
    s = rundir.summarize(d)
    assert s["status"] == "completed" and s["results"] == {"python": 11.0} and s["budget_seconds"] == 60
    assert [r["path"] for r in rundir.list_runs(tmp_path)] == [str(d)]
