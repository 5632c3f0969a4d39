"""Run directories are untrusted input: no symlink is followed, names come from known languages and splits,
one writer at a time, malformed files never crash a reader."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from engine.contract import events, lock, rundir
from engine.contract.files import UnsafePath, say


def test_events_are_never_appended_through_a_symlink(tmp_path):
    target = tmp_path / "bashrc"
    target.write_text("original\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / rundir.EVENTS).symlink_to(target)
    with pytest.raises(UnsafePath, match="symbolic link"):
        events.EventWriter(run / rundir.EVENTS)
    assert target.read_text() == "original\n"
    assert list(events.read_events(run / rundir.EVENTS)) == []  # a reader does not follow it either


def test_prediction_names_come_only_from_known_languages_and_splits(tmp_path):
    outside = tmp_path / "x"
    outside.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(ValueError, match="unknown language"):
        rundir.write_predictions(run, "../x/pwn", "test", ["a"], ["b"])
    with pytest.raises(ValueError, match="unknown language"):
        rundir.write_predictions(run, "python", "../../t", ["a"], ["b"])
    assert list(outside.iterdir()) == []
    out, gold = rundir.write_predictions(run, "python", "test", ["a b"], ["c"])
    assert out.read_text() == "0\ta b\n" and gold.parent == run


def test_results_and_checkpoint_swaps_refuse_symlinks(tmp_path):
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("keep\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / rundir.RESULTS).symlink_to(elsewhere)
    with pytest.raises(UnsafePath):
        rundir.write_results(run, [{"language": "python"}])
    assert elsewhere.read_text() == "keep\n"
    assert rundir.read_results(run) == []
    ck = run / "checkpoints"
    ck.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("x")
    (ck / "last").symlink_to(victim, target_is_directory=True)
    tmp = ck / ".last.tmp-1"
    tmp.mkdir()
    with pytest.raises(UnsafePath):
        rundir.replace_dir(tmp, ck / "last")
    assert (victim / "precious").read_text() == "x"


def test_one_writer_per_run_directory(tmp_path):
    with lock.RunLock(tmp_path, "train") as held:
        assert held.held and lock.read_lock(tmp_path)["pid"] == os.getpid()
        # another process cannot take it, and is told who holds it
        code = ("import sys; from engine.contract import lock\n"
                "try:\n    lock.RunLock(sys.argv[1], 'eval').acquire()\n"
                "except lock.RunLocked as e:\n    print(e); sys.exit(3)\n")
        p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 3, p.stderr
        assert f"pid {os.getpid()} on {socket.gethostname()}" in p.stdout and "train" in p.stdout
    assert lock.read_lock(tmp_path) is None


def test_a_dead_writers_lock_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / rundir.LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    with lock.RunLock(tmp_path, "train"):
        assert lock.read_lock(tmp_path)["pid"] == os.getpid()
    # a live writer on another host is respected (its pid means nothing here)
    (tmp_path / rundir.LOCK_FILE).write_text(json.dumps({"host": "node-7", "pid": 1, "started": 1.7e9}))
    with pytest.raises(lock.RunLocked, match="node-7"):
        lock.RunLock(tmp_path).acquire()


def test_summarize_survives_malformed_files(tmp_path):
    (tmp_path / rundir.CONFIG).write_text("[1, 2]")
    (tmp_path / rundir.PID_FILE).write_text("99999999999999999999999")
    (tmp_path / rundir.EVENTS).write_text('{"event": "started", "time": 1e300}\n{"event": "step", "step": "x"}\n'
                                          '{"event": "result", "language": ["a"], "bleu4": 1}\n')
    info = rundir.summarize(tmp_path)
    assert info["status"] == "interrupted" and info["step"] == 0 and info["results"] == {}


def test_diagnostics_survive_a_dead_reader():
    r, w = os.pipe()
    os.close(r)
    stream = os.fdopen(w, "w")
    say("nobody reads this", stream)  # EPIPE: swallowed
    say("nor this", stream)


@pytest.mark.parametrize("text, want", [("a,b\n1,2\n", "not a results table"),
                                        ("language,split,bleu4\n../x,test,1\n", "unknown language"),
                                        ("language,split,bleu4\npython,test,abc\n", "bleu4 is not a number")])
def test_a_damaged_results_table_is_named(tmp_path, text, want):
    (tmp_path / rundir.RESULTS).write_text(text)
    with pytest.raises(rundir.RunFileError, match=want) as e:
        rundir.read_results(tmp_path)
    assert str(tmp_path / rundir.RESULTS) in str(e.value)


def test_results_round_trip_with_the_floor(tmp_path):
    rundir.write_results(tmp_path, [{"language": "python", "split": "test", "n": 3, "bleu4": 14.5,
                                     "floor_bleu4": 11.5, "above_floor": 3.0, "floor_text": "returns the ."}])
    (row,) = rundir.read_results(tmp_path)
    assert row["bleu4"] == 14.5 and row["floor_bleu4"] == 11.5 and row["above_floor"] == 3.0
    assert row["floor_text"] == "returns the ."


def test_a_requeued_slurm_job_takes_over_its_own_lock(tmp_path, monkeypatch):
    (tmp_path / rundir.LOCK_FILE).write_text(json.dumps({"host": "node-1", "pid": 4242, "slurm_job": "77",
                                                          "slurm_restart": 0}))
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    with lock.RunLock(tmp_path):
        assert lock.read_lock(tmp_path)["slurm_restart"] == 1
    (tmp_path / rundir.LOCK_FILE).write_text(json.dumps({"host": "node-1", "pid": 4242, "slurm_job": "78",
                                                          "slurm_restart": 0}))
    with pytest.raises(lock.RunLocked):  # another job's lock is respected
        lock.RunLock(tmp_path).acquire()


def test_a_writer_touches_a_torn_log_only_when_it_writes(tmp_path):
    p = tmp_path / rundir.EVENTS
    p.write_bytes(b'{"v": 1, "event": "step", "step": 1}\n{"v": 1, "ev')
    w = events.EventWriter(p)
    assert p.read_bytes().endswith(b'"ev')  # opened, not yet written: untouched
    w.emit("log", level="info", message="x")
    w.close()
    assert [e["event"] for e in events.read_events(p)] == ["step", "log"]
