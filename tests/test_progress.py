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
