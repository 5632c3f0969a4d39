"""torchrun/DDP on CPU with gloo and 2 processes: gradients equal the single-process full-batch gradients, ranks
stop at the same step under a budget, checkpoints move between world sizes, sharded evaluation equals the
single-process one."""
import json
import re
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, tiny_config
from engine.contract.config import to_cli_args
from engine.contract.events import read_events
from engine.contract.rundir import read_results

pytestmark = pytest.mark.slow
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _run(cmd, timeout=300):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_ddp_gradients_equal_single_process(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    _run([sys.executable, "tests/ddp_grad_check.py", str(tmp_path / "one")])
    _run([*TORCHRUN, "tests/ddp_grad_check.py", str(tmp_path / "two")])
    a, b = torch.load(tmp_path / "one" / "delta.pt"), torch.load(tmp_path / "two" / "delta.pt")
    assert (a["loss"], a["n_tok"], a["tokens"]) == pytest.approx((b["loss"], b["n_tok"], b["tokens"]))
    biggest = max(v.abs().max().item() for v in a["delta"].values())
    assert biggest > 1e-3  # the step really moved the weights
    for k in a["delta"]:
        torch.testing.assert_close(a["delta"][k], b["delta"][k], atol=1e-6, rtol=1e-4)


def _train_args(run_dir, gpus, budget):
    cfg = tiny_config(**{"budget.seconds": budget, "hardware.gpus": gpus, "data.max_train": 200})
    return [sys.executable, "-m", "engine", "train", *to_cli_args(cfg), "--run-dir", str(run_dir)]


def _extend(run_dir, gpus, extra):
    cfg = json.loads((run_dir / "config.json").read_text())
    done = [e for e in read_events(run_dir / "events.jsonl") if e["event"] == "done"][-1]
    cfg["budget"]["seconds"] = done["elapsed"] + extra
    cfg["hardware"]["gpus"] = gpus
    (run_dir / "config.json").write_text(json.dumps(cfg))
    return done


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory, stdlib_corpus):
    d = tmp_path_factory.mktemp("ddp") / "run"
    r = _run(_train_args(d, 2, 4))
    return d, r


def test_two_ranks_stop_at_the_same_step_and_rank0_alone_writes(two_rank_run):
    d, r = two_rank_run
    ends = dict(re.findall(r"cram\[rank (\d)/2\]: training ended at step (\d+)", r.stderr))
    assert set(ends) == {"0", "1"} and ends["0"] == ends["1"]
    evs = list(read_events(d / "events.jsonl"))
    assert [e["event"] for e in evs].count("started") == 1  # one writer
    assert evs[-1]["status"] == "completed" and evs[-1]["step"] == int(ends["0"])
    assert [e for e in evs if e["event"] == "started"][0]["world_size"] == 2
    assert "torch.distributed.run" in r.stderr  # the launch command is shown
    out = (d / "python_test.output").read_text().splitlines()
    assert [int(x.split("\t")[0]) for x in out] == list(range(30))  # every example once, in order


def test_sharded_evaluation_equals_single_process(two_rank_run):
    d, _ = two_rank_run
    _run([sys.executable, "-m", "engine", "eval", str(d)])
    single = read_results(d)[0]["bleu4"], (d / "python_test.output").read_text()
    _run([*TORCHRUN, "-m", "engine", "eval", str(d)])
    sharded = read_results(d)[0]["bleu4"], (d / "python_test.output").read_text()
    assert sharded == single


def test_checkpoints_move_between_world_sizes(two_rank_run, tmp_path):
    d, _ = two_rank_run
    before = _extend(d, 1, 2)
    _run([sys.executable, "-m", "engine", "train", "--resume", str(d)])
    evs = list(read_events(d / "events.jsonl"))
    started = [e for e in evs if e["event"] == "started"][-1]
    assert started["resumed"] and started["world_size"] == 1 and started["step"] == before["step"]
    assert evs[-1]["status"] == "completed" and evs[-1]["step"] > before["step"]
    # and a single-process checkpoint resumes on two ranks
    one = tmp_path / "one"
    _run(_train_args(one, 1, 3))
    before = _extend(one, 2, 2)
    _run([sys.executable, "-m", "engine", "train", "--resume", str(one)])
    evs = list(read_events(one / "events.jsonl"))
    started = [e for e in evs if e["event"] == "started"][-1]
    assert started["resumed"] and started["world_size"] == 2 and started["step"] == before["step"]
    assert evs[-1]["status"] == "completed" and evs[-1]["step"] > before["step"]
