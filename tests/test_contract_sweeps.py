"""engine.contract.sweeps: a sweep directory is untrusted input; the reader never follows links out of it."""
from __future__ import annotations

import json
import os

import pytest

from engine.contract import sweeps


def _write(d, obj):
    (d / sweeps.SWEEP_FILE).write_text(json.dumps(obj) if not isinstance(obj, (bytes, str)) else obj)


@pytest.mark.parametrize("content", ["[1]", "{not json", '{"trials": 3}'])
def test_a_malformed_summary_is_unreadable(tmp_path, content):
    _write(tmp_path, content)
    with pytest.raises(sweeps.SweepUnreadable):
        sweeps.load_sweep(tmp_path)
    assert sweeps.read_sweep(tmp_path) is None


def test_bad_trials_are_dropped_and_trial_dirs_stay_inside(tmp_path):
    _write(tmp_path, {"state": "running", "trials": [1, "x", {"number": 0, "dir": "../etc", "status": "running"},
                                                     {"number": 1, "dir": "t1", "status": "completed"}],
                      "spec": {"params": [{"name": "train.lr"}, {"nope": 1}, "x"]}})
    s = sweeps.load_sweep(tmp_path)
    assert [t["number"] for t in s["trials"]] == [0, 1]
    assert sweeps.trial_dir(tmp_path, s["trials"][0]) is None
    assert sweeps.trial_dir(tmp_path, s["trials"][1]) == tmp_path / "t1"
    assert s["trials"][0]["status"] == "interrupted" and s["state"] == "interrupted"  # no live worker
    assert sweeps.param_names(s) == ["train.lr"]
    os.symlink(tmp_path, tmp_path / "t2")
    assert sweeps.trial_dir(tmp_path, {"dir": "t2"}) is None


def test_a_live_claim_keeps_a_trial_running(tmp_path):
    (tmp_path / sweeps.CLAIMS_DIR).mkdir()
    import socket

    sweeps.claim_path(tmp_path, 0).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    _write(tmp_path, {"state": "running", "trials": [{"number": 0, "dir": "t0", "status": "running"}]})
    s = sweeps.load_sweep(tmp_path)
    assert s["trials"][0]["status"] == "running" and s["state"] == "running"
    sweeps.claim_path(tmp_path, 0).write_text("garbage")  # unreadable: counted as another host's, fresh
    assert sweeps.claim_live(tmp_path, 0)
