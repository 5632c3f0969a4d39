"""The human progress line on stderr."""
import io

from engine.progress import ProgressLine, fmt_seconds


def test_lines_for_each_event_and_missing_values():
    out = io.StringIO()
    p = ProgressLine(out)
    p.on_event({"event": "started", "device": "cpu", "n_params": 1.5e6, "n_train": 10, "budget_seconds": 65})
    p.on_event({"event": "step", "step": 3, "progress": 0.5, "elapsed": 30, "loss": 2.5, "tokens_per_s": 1234.0})
    p.on_event({"event": "eval", "step": 3, "dev_loss": None, "dev_bleu": 7.25, "eval_seconds": 1.0, "best": True})
    p.on_event({"event": "result", "language": "python", "split": "test", "bleu4": 12.345, "n": 5,
                "decode_seconds": 0.5})
    p.on_event({"event": "error", "message": "boom", "hint": "do x"})
    text = out.getvalue()
    assert "1.5M parameters" in text and "budget 01:05" in text
    assert "[############............]  50.0% step 3 loss 2.500 1,234 tok/s ETA 00:35" in text
    assert "dev @ step 3: loss n/a BLEU-4 7.25 (best)" in text
    assert "python test: BLEU-4 12.35 (n=5, 0.5s)" in text and "hint: do x" in text
    assert fmt_seconds(3725) == "1:02:05" and fmt_seconds(None) == "--:--"


def test_decode_progress_line():
    out = io.StringIO()
    p = ProgressLine(out)
    p.on_event({"event": "progress", "task": "decode", "language": "python", "split": "test", "done": 4,
                "total": 30, "eta_seconds": 65})
    p.on_event({"event": "progress", "task": "decode", "language": "python", "split": "test", "done": 30,
                "total": 30, "eta_seconds": 0})
    assert out.getvalue().splitlines() == ["python test decoding 4 / 30 ETA 01:05", "python test decoding 30 / 30"]


class _Dead(io.StringIO):
    def write(self, s):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_dead_reader_silences_the_line_instead_of_raising(monkeypatch):
    import sys

    p = ProgressLine(_Dead())
    p.on_event({"event": "log", "level": "info", "message": "x"})
    assert p.dead
    monkeypatch.setattr(sys, "stderr", None)  # started with 2>&-
    q = ProgressLine()
    q.on_event({"event": "error", "message": "boom", "hint": ""})
    assert q.dead


def test_safe_stream_survives_a_closed_pipe():
    import os

    from engine.stdio import SafeStream

    r, w = os.pipe()
    raw = os.fdopen(w, "w")
    s = SafeStream(raw, raw.fileno())
    s.write("hello\n")
    s.flush()
    assert os.read(r, 100) == b"hello\n"
    os.close(r)  # the reader dies
    s.write("x" * 100000)
    s.flush()
    assert s.dead
    s.write("more\n")  # dropped quietly
    assert os.path.samefile(f"/proc/self/fd/{raw.fileno()}", os.devnull) if os.path.isdir("/proc/self/fd") else True
    raw.close()
