"""Issue 10 item 7: a failed write is classified by errno (a full disk is `disk`, "Not a directory" is not), and
the final evaluation's writes (predictions, results.csv, samples) fail with the path named, the event log
readable and the checkpoints kept."""
import errno
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from engine.diskerrors import classify


# ------------------------------------------------------------------------------------------------ classification
def test_errno_decides_the_kind():
    assert classify(OSError(errno.ENOSPC, "No space left on device", "/r/x.output")) == \
        ("disk", "No space left on device: /r/x.output")
    assert classify(OSError(errno.EDQUOT, "Disk quota exceeded"))[0] == "disk"
    assert classify(OSError(errno.EFBIG, "File too large"))[0] == "disk"
    kind, msg = classify(OSError(errno.ENOTDIR, "Not a directory", "/r/x.output"))
    assert kind == "config" and msg == "Not a directory: /r/x.output"
    assert classify(OSError(errno.EACCES, "Permission denied", "/r"))[0] == "config"
    assert classify(OSError(errno.EIO, "Input/output error"))[0] == "internal"
    assert classify(ValueError("boom")) == ("internal", "ValueError: boom")


def test_library_errors_without_errno():
    # safetensors on a full disk (measured on a 256 KiB tmpfs)
    assert classify(Exception("Error while serializing: I/O error: No space left on device (os error 28)"))[0] == "disk"
    # torch.save on a full disk: no errno, a C++ position check
    e = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    kind, msg = classify(e)
    assert kind == "disk" and "inline_container" not in msg
    assert classify(RuntimeError("error code: 280"))[0] == "internal"
    # a wrapped OSError keeps its errno
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("save failed") from inner
    except RuntimeError as outer:
        assert classify(outer)[0] == "disk"


def test_a_refused_symlink_is_untrusted(tmp_path):
    from engine.contract.files import UnsafePath, check_regular

    (tmp_path / "t").write_text("x")
    (tmp_path / "l").symlink_to(tmp_path / "t")
    with pytest.raises(UnsafePath) as ei:
        check_regular(tmp_path / "l")
    assert classify(ei.value)[0] == "untrusted"


# ------------------------------------------------------------------------------------------------- a real tmpfs
@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs (CI runs as root); skipped where mounting is not permitted."""
    d = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _fill(d: Path) -> None:
    with open(d / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC


def test_final_writes_on_a_full_tmpfs_fail_as_disk_with_the_path(tiny_tmpfs):
    from engine.errors import StopRun
    from engine.evaluator import write_final

    run = tiny_tmpfs / "run"
    run.mkdir()
    _fill(tiny_tmpfs)
    rows = [{"language": "python", "split": "test", "n": 3, "bleu4": 1.0, "nltk_bleu4": 1.0, "decode_seconds": 0.1,
             "beam_size": 1}]
    with pytest.raises(StopRun) as ei:
        write_final(run, predictions={("python", "test"): (["a " * 50000] * 3, ["b"] * 3)}, rows=rows, samples=[])
    e = ei.value
    assert e.kind == "disk", e.message
    assert "python_test.output" in e.message and "No space left" in e.message
    assert "cram eval" in e.hint and "checkpoint" in e.hint
    assert not any(p.name.endswith(".tmp") for p in run.iterdir())  # no half-written temp file left


def test_not_a_directory_is_not_called_a_full_disk(tmp_path):
    from engine.errors import StopRun
    from engine.evaluator import write_final

    run = tmp_path / "run"
    run.mkdir()
    os.mkdir(run / "results.csv")  # a folder where results.csv goes
    rows = [{"language": "python", "split": "test", "n": 1, "bleu4": 1.0}]
    with pytest.raises(StopRun) as ei:
        write_final(run, predictions={}, rows=rows, samples=[])
    assert ei.value.kind == "config" and "results.csv" in ei.value.message
    assert "No space" not in ei.value.message


# ---------------------------------------------------------------------------------- a whole run, injected failure
def _failing_final_writes(monkeypatch, err: int):
    from engine.contract import rundir

    real = rundir.atomic_write_text

    def write(path, text):
        if Path(path).name.endswith((".output", ".gold", "results.csv", "samples.jsonl")):
            raise OSError(err, os.strerror(err))
        return real(path, text)

    monkeypatch.setattr(rundir, "atomic_write_text", write)


@pytest.mark.slow
@pytest.mark.parametrize("err, kind, code", [(errno.ENOSPC, "disk", 1), (errno.ENOTDIR, "config", 2)])
def test_a_failed_final_write_names_the_file_and_keeps_the_checkpoint(tmp_path, stdlib_corpus, monkeypatch,
                                                                      err, kind, code):
    from conftest import tiny_config
    from engine import checkpoint as ckpt
    from engine import train
    from engine.contract.events import EventWriter, decode, read_events

    _failing_final_writes(monkeypatch, err)
    run = tmp_path / "run"
    w = EventWriter(run / "events.jsonl")
    try:
        assert train.run(tiny_config(**{"budget.seconds": 2}), run, w) == code
    finally:
        w.close()
    lines = (run / "events.jsonl").read_text().splitlines()
    assert all(decode(line) is not None for line in lines)  # the event log stays readable, line by line
    evs = list(read_events(run / "events.jsonl"))
    errs = [e for e in evs if e["event"] == "error"]
    assert len(errs) == 1 and errs[0]["kind"] == kind
    assert f"{run}/python_test.output" in errs[0]["message"] and os.strerror(err) in errs[0]["message"]
    assert ("No space" in errs[0]["message"]) == (kind == "disk")
    assert f"cram eval {run}" in errs[0]["hint"]
    assert evs[-1]["event"] == "done" and evs[-1]["status"] == "failed"
    last = ckpt.find(run, "last")
    assert last is not None and ckpt.load_state(last)["step"] == evs[-1]["step"]
    assert not (run / "writer.lock").exists()
