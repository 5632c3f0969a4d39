"""What the session tells the user, composed: message levels, an engine error's title and text (its hint said
once), the last checkpoint in one sentence (after a kill), and the summary of a finished live run (the window's
banner and desktop notification are made from it)."""
from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path

from engine.contract import rundir
from engine.contract.events import number
from engine.contract.files import read_text

from .formatting import age, bleu

# message levels (the window maps them to message-box icons)
CRITICAL, WARNING, INFORMATION = "critical", "warning", "information"
ERROR_TITLES = {"locked": "The run is being written elsewhere", "data": "Data error", "config": "Configuration error",
                "oom": "Out of memory", "untrusted": "Unsafe file refused"}


def error_title(kind: str) -> str:
    """The message-box title of an engine error of this kind."""
    return ERROR_TITLES.get(kind, "Engine error")


def split_hint(message: str, hint: str) -> tuple[str, str]:
    """(text, informative) of an engine error: a 'Hint:' inside the message moves to the informative text, joined
    with the event's own hint, so 'Hint:' is said once."""
    text, hints = str(message or "error"), []
    if "Hint:" in text:
        text, _, inner = text.partition("Hint:")
        text = text.rstrip().rstrip(".") + "."
        hints.append(inner.strip())
    h = str(hint or "").strip()
    if h.lower().startswith("hint:"):
        h = h[5:].strip()
    if h and h not in hints:
        hints.append(h)
    return text, ("Hint: " + "\n".join(hints)) if hints else ""


def last_checkpoint(run_dir: Path | None) -> dict | None:
    """{step, path, written (epoch s)} of RUN_DIR's last usable checkpoint (checkpoints/last or its .old), from
    its state file; None when there is none."""
    if run_dir is None:
        return None
    folder = rundir.checkpoint_dir(run_dir, "last")
    sf = rundir.state_file(folder) if folder is not None else None
    if sf is None:
        return None
    try:
        state = json.loads(read_text(sf, limit=1 << 20))
        written = sf.stat().st_mtime
    except (OSError, ValueError):
        return None
    step = number(state.get("step")) if isinstance(state, dict) else None
    return {"step": None if step is None else int(step), "path": str(folder), "written": written}


def checkpoint_sentence(run_dir: Path | None) -> str:
    cp = last_checkpoint(run_dir)
    if cp is None:
        return "There is no checkpoint yet: Resume would start from the beginning."
    rel = Path(cp["path"]).relative_to(run_dir) if run_dir else cp["path"]
    when = _dt.datetime.fromtimestamp(cp["written"]).strftime("%H:%M:%S")
    ago = age(time.time() - cp["written"])
    step = f"step {cp['step']:,}" if cp["step"] is not None else "an unknown step"
    return f"The last checkpoint is {step} ({rel}), written at {when} ({ago} ago): Resume continues from there."


def finished_summary(live: Path, kind: str, code: int, done: dict, errors: list[dict],
                     results: dict[str, float | None], floors: dict[str, float],
                     best: tuple[float, int | None] | None) -> dict:
    """What RunSession.run_finished carries for a live run that sent `done` (see RunSession): its status, test
    BLEU-4 per language (from the result events, else the done event), floors, best dev BLEU and its step, and a
    one-line message."""
    status = done.get("status") or ("stopped" if done.get("stopped") else "completed")
    if errors:
        status = "failed"
    if best is None and number(done.get("best_dev_bleu")) is not None:
        best = (number(done.get("best_dev_bleu")), None)
    results = dict(results)
    if not results and isinstance(done.get("results"), dict):
        results = {str(k): number(v) for k, v in done["results"].items()}
    what = "Evaluation" if kind == "eval" else "Run"
    parts = [f"{lang} {bleu(b)}" for lang, b in results.items() if b is not None]
    msg = f"{what} {live.name} {status}"
    if parts:
        msg += ": test BLEU-4 " + ", ".join(parts)
    if best is not None:
        msg += f"; best dev BLEU {bleu(best[0])}" + (f" at step {best[1]:,}" if best[1] is not None else "")
    return {"path": str(live), "status": status, "kind": kind, "results": results,
            "floors": dict(floors),
            "best_dev_bleu": best[0] if best else None, "best_step": best[1] if best else None,
            "message": msg, "code": code}
