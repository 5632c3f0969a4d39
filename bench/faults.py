"""`python -m bench faults --trials N [--seed S]`: fault injection against the real `cram` CLI (issue 10). Not a
test: it takes minutes and its SIGKILL times are random. Each case runs the tiny smoke configuration on the
built-in corpus and checks what a user would check afterwards:

  sigkill       N trials: SIGKILL the process group at a random moment (setup, training, a checkpoint swap,
                the final evaluation), then `cram train --resume`: the resumed run ends completed, every line of
                the event log after the kill is readable, the last checkpoint loads (weights, tokenizer, state).
  disk-full     the run directory on a small tmpfs, filled up after the first checkpoint (256 KiB left, so
                events still fit): the next periodic checkpoint fails as error kind `disk`, training goes on, and
                once space is freed the run completes with a loadable checkpoint. Skipped where mounting a
                tmpfs is not permitted (needs root).
  broken-pipe   the console dies (stdout and stderr pipes closed by their reader), then SIGTERM: the run ends
                `stopped` with a checkpoint at the done step.
  stderr-closed `cram train ... 2>&-`: the run completes.
  poisoned-opt  checkpoints/last/optimizer.pt replaced by a pickle whose __reduce__ calls exec: `cram train
                --resume` must not run it (no marker file), and refuses the checkpoint (error kind `untrusted`).

Prints a table; writes bench/out/faults.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import OUT, ROOT, loadavg, log, machine

CRAM = [sys.executable, "-m", "engine"]


def tiny_args(budget: float = 10, **sets) -> list[str]:
    """The tests' tiny configuration (tests/conftest.py tiny_config), as `--set` arguments."""
    from engine.contract import config as config_lib

    cfg = config_lib.preset("smoke")
    values = {"budget.seconds": budget, "eval.every_seconds": 2, "data.max_train": 300, "data.max_valid": 30,
              "data.max_test": 30, "eval.dev_subset": 20, "eval.beam_size": 2, "eval.samples": 5,
              "model.vocab_size": 600, "hardware.threads": 1, "eval.checkpoint_minutes": 0.1}
    values.update(sets)
    for k, v in values.items():
        config_lib.set_value(cfg, k, v)
    return config_lib.to_cli_args(cfg)


def spawn(args: list[str], **kw) -> subprocess.Popen:
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(CRAM + args, cwd=ROOT, start_new_session=True, **kw)


def cram(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(CRAM + args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def events(run: Path) -> list[dict]:
    from engine.contract.events import read_events

    return list(read_events(run / "events.jsonl"))


def torn_lines(run: Path) -> int:
    from engine.contract.events import decode

    p = run / "events.jsonl"
    if not p.is_file():
        return 0
    return sum(1 for line in p.read_bytes().splitlines() if line.strip() and decode(line) is None)


def wait_for(run: Path, pred, proc: subprocess.Popen | None = None, timeout: float = 300) -> list[dict]:
    t0 = time.time()
    while time.time() - t0 < timeout:
        evs = events(run)
        if pred(evs):
            return evs
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the engine ended ({proc.returncode}) before the awaited event")
        time.sleep(0.1)
    raise TimeoutError(f"waiting on {run}")


def kill_group(p: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def checkpoint_loads(run: Path, kind: str = "last") -> tuple[bool, str]:
    from engine import checkpoint as ckpt
    from engine import model as model_lib

    last = ckpt.find(run, kind)
    if last is None:
        return False, f"no {kind} checkpoint"
    try:
        model_lib.load(last)
        state = ckpt.load_state(last)
    except Exception as e:  # noqa: BLE001 - reported in the table
        return False, f"{type(e).__name__}: {e}"[:120]
    return True, f"{kind} at step {state.get('step')}"


# ---------------------------------------------------------------------------------------------------- the cases
def trial_sigkill(base: Path, i: int, rng: random.Random) -> dict:
    run = base / f"kill-{i}"
    p = spawn(["train"] + tiny_args() + ["--run-dir", str(run), "--jsonl"])
    delay = rng.uniform(2.0, 17.0)
    t0 = time.time()
    while time.time() - t0 < delay and p.poll() is None:
        time.sleep(0.05)
    finished_first = p.poll() is not None
    kill_group(p)
    p.wait()
    evs = events(run)
    phases = [e.get("phase") for e in evs if e["event"] == "phase"]
    at = (phases[-1] if phases else "before any phase") if evs else "before any event"
    row = {"case": "sigkill", "trial": i, "kill_after_s": round(delay, 1), "phase_at_kill": at,
           "torn_lines": torn_lines(run)}
    if finished_first:
        row.update(ok=bool(evs) and evs[-1].get("status") == "completed",
                   note=f"ended ({p.returncode}) before the kill")
        return row
    if not (run / "config.json").is_file():
        r = cram(["train", "--resume", str(run), "--jsonl"])
        row.update(ok=r.returncode == 2, resume_rc=r.returncode,
                   note="killed before config.json: resume refuses (" + r.stderr.strip().splitlines()[-1][:70]
                   + ")" if r.stderr.strip() else "")
        return row
    n_before = len(evs)
    r = cram(["train", "--resume", str(run), "--jsonl"])
    after = events(run)[n_before:]
    loads, what = checkpoint_loads(run)
    torn_after = torn_lines(run) - row["torn_lines"]
    completed = bool(after) and after[-1]["event"] == "done" and after[-1].get("status") == "completed"
    row.update(resume_rc=r.returncode, completed=completed, checkpoint=what, torn_after_resume=torn_after,
               results=(run / "results.csv").is_file(),
               ok=r.returncode == 0 and completed and loads and torn_after == 0 and (run / "results.csv").is_file())
    if not row["ok"]:
        row["note"] = (r.stderr.strip().splitlines() or [""])[-1][:120]
    return row


def case_disk_full(base: Path) -> dict:
    mnt = base / "tmpfs"
    mnt.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if m.returncode != 0:
        return {"case": "disk-full", "ok": None, "note": f"skipped: cannot mount a tmpfs ({m.stderr.strip()[:60]})"}
    run = mnt / "run"
    filler = mnt / "filler"
    out = base / "disk-full.stdout"
    try:
        with open(out, "w") as fh:
            p = spawn(["train"] + tiny_args(budget=20) + ["--run-dir", str(run), "--jsonl"], stdout=fh)
            try:
                wait_for(run, lambda evs: any(e["event"] == "checkpoint" for e in evs), p)
                with open(filler, "wb") as f:  # fill the disk, then give 256 KiB back (room for events only)
                    try:
                        while True:
                            f.write(b"\0" * (1 << 20))
                            f.flush()
                    except OSError:
                        pass
                    f.truncate(max(0, f.tell() - (256 << 10)))
                n_full = len(events(run))
                # the next periodic checkpoint fails; training must go on (more steps after the error)
                evs = wait_for(run, lambda evs: any(e["event"] == "error" for e in evs[n_full:])
                               and sum(e["event"] == "step" for e in evs[n_full:]
                                       if e["time"] > max(x["time"] for x in evs[n_full:]
                                                          if x["event"] == "error")) >= 2
                               or any(e["event"] == "done" for e in evs[n_full:]), p, timeout=120)
                errs = [e for e in evs[n_full:] if e["event"] == "error"]
                filler.unlink()
                rc = p.wait(timeout=300)
            finally:
                if p.poll() is None:
                    kill_group(p)
        evs = events(run)
        loads, what = checkpoint_loads(run)
        if not loads:  # the disk filled before the first `last`: the best checkpoint must still load
            loads, what = checkpoint_loads(run, "best")
        kinds = [e.get("kind") for e in errs]
        # a failed periodic checkpoint is one warning and training goes on (an error event would mark the run failed)
        warns = [e for e in evs[n_full:] if e["event"] == "log" and "cannot write the" in (e.get("message") or "")]
        status = evs[-1].get("status") if evs and evs[-1]["event"] == "done" else "no done event"
        ok = rc == 0 and not kinds and len(warns) >= 1 and status == "completed" and loads
        note = (warns[0].get("message") or "")[:100] if warns else "no checkpoint warning"
        return {"case": "disk-full", "ok": ok, "errors": kinds, "warnings": len(warns), "status": status, "rc": rc,
                "checkpoint": what, "note": note}
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def case_broken_pipe(base: Path) -> dict:
    run = base / "broken-pipe"
    p = spawn(["train"] + tiny_args(budget=120, **{"eval.checkpoint_minutes": 10}) + ["--run-dir", str(run), "--jsonl"],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(run, lambda evs: sum(e["event"] == "step" for e in evs) >= 3, p)
        p.stdout.close()
        p.stderr.close()
        time.sleep(1.0)
        kill_group(p, signal.SIGTERM)
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            kill_group(p)
    evs = events(run)
    loads, what = checkpoint_loads(run)
    done = evs[-1] if evs and evs[-1]["event"] == "done" else {}
    from engine import checkpoint as ckpt

    at_done = loads and ckpt.load_state(ckpt.find(run, "last")).get("step") == done.get("step")
    return {"case": "broken-pipe", "ok": rc == 0 and done.get("status") == "stopped" and at_done, "rc": rc,
            "status": done.get("status", "no done event"), "checkpoint": what, "run": str(run)}


def case_stderr_closed(base: Path) -> dict:
    run = base / "stderr-closed"
    r = subprocess.run(CRAM + ["train"] + tiny_args(budget=3) + ["--run-dir", str(run)], cwd=ROOT,
                       stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(2), timeout=600)
    evs = events(run)
    status = evs[-1].get("status") if evs and evs[-1]["event"] == "done" else "no done event"
    return {"case": "stderr-closed", "ok": r.returncode == 0 and status == "completed", "rc": r.returncode,
            "status": status}


class _Exec:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def case_poisoned_optimizer(base: Path, source: Path) -> dict:
    import torch

    run = base / "poisoned"
    shutil.copytree(source, run)
    last = run / "checkpoints" / "last"
    marker = base / "PWNED"
    for name in ("optimizer.pt",):
        torch.save({"optimizer": _Exec(str(marker)), "rng": _Exec(str(marker))}, last / name)
    r = cram(["train", "--resume", str(run), "--jsonl"])
    evs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    kinds = [e.get("kind") for e in evs if e["event"] == "error"]
    ran = marker.exists()
    traceback_shown = "Traceback" in r.stderr
    return {"case": "poisoned-opt", "ok": not ran and kinds[:1] == ["untrusted"] and not traceback_shown,
            "code_ran": ran, "rc": r.returncode, "errors": kinds, "traceback": traceback_shown,
            "note": (r.stderr.strip().splitlines() or [""])[-1][:120]}


# ------------------------------------------------------------------------------------------------------ the table
def table(rows: list[dict]) -> str:
    lines = [("case", "trials", "passed", "detail")]
    kills = [r for r in rows if r["case"] == "sigkill"]
    if kills:
        where: dict[str, int] = {}
        for r in kills:
            where[r["phase_at_kill"]] = where.get(r["phase_at_kill"], 0) + 1
        torn = sum(r["torn_lines"] for r in kills)
        lines.append(("sigkill+resume", str(len(kills)), str(sum(bool(r["ok"]) for r in kills)),
                      f"kill {min(r['kill_after_s'] for r in kills)}-{max(r['kill_after_s'] for r in kills)} s "
                      f"after start; torn lines left by the kills {torn}; phase at the kill: "
                      + ", ".join(f"{k} x{v}" for k, v in sorted(where.items()))))
    for r in rows:
        if r["case"] == "sigkill":
            continue
        passed = "skipped" if r["ok"] is None else ("1" if r["ok"] else "0")
        detail = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("case", "ok", "run"))
        lines.append((r["case"], "1", passed, detail))
    widths = [max(len(x[i]) for x in lines) for i in range(3)]
    out = ["  ".join(c.ljust(w) for c, w in zip(line[:3], widths)) + "  " + line[3] for line in lines]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10, help="SIGKILL/resume trials")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("sigkill", "disk-full", "broken-pipe", "stderr-closed", "poisoned-opt"),
                    action="append", help="run only these cases (repeatable)")
    args = ap.parse_args(argv)
    only = set(args.only or ("sigkill", "disk-full", "broken-pipe", "stderr-closed", "poisoned-opt"))
    from engine import corpus

    corpus.ensure_builtin_corpus()
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="cram-faults-"))
    rows: list[dict] = []
    load_before, t_all = loadavg(), time.perf_counter()
    try:
        if "sigkill" in only:
            for i in range(args.trials):
                rows.append(trial_sigkill(base, i, rng))
                log(f"sigkill {i}: {rows[-1]}")
        cases = [("broken-pipe", case_broken_pipe), ("stderr-closed", case_stderr_closed),
                 ("disk-full", case_disk_full)]
        for name, fn in cases:
            if name in only:
                rows.append(fn(base))
                log(f"{name}: {rows[-1]}")
        if "poisoned-opt" in only:
            src = next((Path(r["run"]) for r in rows if r["case"] == "broken-pipe"), None)
            if src is None:
                src = Path(case_broken_pipe(base)["run"])
            rows.append(case_poisoned_optimizer(base, src))
            log(f"poisoned-opt: {rows[-1]}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    total = time.perf_counter() - t_all
    OUT.mkdir(parents=True, exist_ok=True)
    info = {"argv": ["faults"] + (argv or []), "machine": machine(), "load_before": load_before,
            "load_after": loadavg(), "seconds": round(total, 1), "rows": rows}
    (OUT / "faults.json").write_text(json.dumps(info, indent=2, default=str))
    print(table(rows))
    print(f"\n{total / 60:.1f} min; load average {load_before} -> {loadavg()}; details in {OUT / 'faults.json'}")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
