"""Checkpoints: model + tokenizer (save_pretrained), optimizer, RNG states, step, elapsed, data position.

Written to `checkpoints/.KIND.tmp-*/` first and swapped in with `rundir.replace_dir`, so a kill (or a full disk)
at any moment leaves the previous checkpoint usable. The folder follows the umask like the rest of the run
(mkdtemp alone would make it 0700). The TrainState file (rundir.STATE_FILE) is written last: its presence marks
a complete checkpoint.

A run directory is untrusted input: `optimizer.pt` holds only tensors, numbers and strings (the RNG states too),
so it loads with `torch.load(weights_only=True)`; anything that needs full unpickling is refused (`untrusted`).
Parameters that are not finite are never written.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import random
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import numpy as np
import torch

from . import model as model_lib
from .contract.rundir import STATE_FILE, checkpoint_dir, replace_dir, state_file
from .errors import StopRun
from .state import TrainState

if TYPE_CHECKING:
    from .budget import BudgetClock
    from .session import Session

OPTIMIZER_FILE = "optimizer.pt"


# ------------------------------------------------------------------------------------------------- RNG states
def rng_state() -> dict:
    """Python's, NumPy's, torch's (and CUDA's) RNG states as tensors, ints, floats and strings only, so the file
    that holds them loads with weights_only=True."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                        "gauss": gauss},
             "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` saved (a ValueError / TypeError / KeyError for anything else)."""
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(x) for x in py["state"].tolist()),
                     None if py["gauss"] is None else float(py["gauss"])))
    n = state["numpy"]
    np.random.set_state((str(n["name"]), n["keys"].numpy().astype(np.uint32), int(n["pos"]), int(n["has_gauss"]),
                         float(n["cached_gaussian"])))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------------------------------------------ writing
def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)  # no /proc: read it by setting it (and put it back at once)
    os.umask(old)
    return old


def save(run_dir: Path, kind: str, model, tokenizer, meta: dict, trainer_state: dict,
         optimizer=None, scaler=None) -> Path:
    base = Path(run_dir) / "checkpoints"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{kind}.tmp-", dir=base))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # as a plain mkdir would: group members of a shared run can read it
        model_lib.save(model, tokenizer, meta, tmp)
        if optimizer is not None:
            torch.save({"optimizer": optimizer.state_dict(), "rng": rng_state(),
                        "scaler": scaler.state_dict() if scaler is not None else None}, tmp / OPTIMIZER_FILE)
        # the state file last: its presence marks a complete checkpoint
        (tmp / STATE_FILE).write_text(json.dumps(trainer_state, indent=2))
        final = base / kind
        replace_dir(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------------------------ reading
def _untrusted(path: Path, what: str) -> StopRun:
    return StopRun("untrusted", f"checkpoint {path} {what}",
                   f"delete {path} to resume with fresh optimizer moments (the model weights are kept), or resume "
                   "from a copy of the run you trust")


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _read_state(folder: Path) -> dict:
    p = state_file(folder)
    if p is None:
        raise StopRun("untrusted", f"checkpoint {folder} has no {STATE_FILE}: it is incomplete",
                      "resume from another checkpoint, or start the run again")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        TrainState.from_dict(d)  # its fields have the right types
    except (OSError, ValueError, TypeError) as e:
        raise StopRun("untrusted", f"{p} is not a checkpoint state: {e}",
                      "the checkpoint is damaged; resume from another one, or start the run again") from None
    return d


def load_state(folder: Path) -> dict:
    """The TrainState dict of a checkpoint (cram_state.json, or trainer_state.json of older runs). For a `last`
    checkpoint, best_dev_bleu is the `best` checkpoint's when that is higher: a kill can leave `last` older than
    `best`, and a resumed run must not overwrite the better `best` with a worse score."""
    folder = Path(folder)
    d = _read_state(folder)
    if folder.name in ("last", "last.old"):
        best = checkpoint_dir(folder.parent.parent, "best")
        if best is not None:
            try:
                b = _number(_read_state(best).get("best_dev_bleu"))
            except StopRun:
                b = None  # a damaged best state: keep last's own score
            mine = _number(d.get("best_dev_bleu"))
            if b is not None and (mine is None or b > mine):
                d["best_dev_bleu"] = b
    return d


def read_optimizer(folder: Path) -> dict | None:
    """The optimizer file of a checkpoint, loaded with weights_only=True (None when there is none). A file that
    would need full unpickling (a crafted one, or the format before 0.2) is refused: StopRun `untrusted`."""
    p = Path(folder) / OPTIMIZER_FILE
    if p.is_symlink():
        raise _untrusted(p, "is a symbolic link; refusing to follow it")
    if not p.is_file():
        return None
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise _untrusted(p, "is not a safe tensor file; refusing to unpickle it") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise _untrusted(p, f"cannot be read ({first})") from None
    if not (isinstance(blob, dict) and isinstance(blob.get("optimizer"), dict) and isinstance(blob.get("rng"), dict)):
        raise _untrusted(p, "is not an optimizer state written by cram")
    blob["path"] = str(p)
    return blob


def apply_optimizer(blob: dict, optimizer, scaler=None) -> None:
    """Restore the optimizer moments, the RNG states and the fp16 loss scale of `read_optimizer`'s blob."""
    p = blob.get("path", OPTIMIZER_FILE)
    try:
        optimizer.load_state_dict(blob["optimizer"])
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as e:
        raise StopRun("config", f"checkpoint {p}: its optimizer state does not fit this model ({e})",
                      f"delete {p} to resume with fresh optimizer moments") from None
    try:
        set_rng_state(blob["rng"])
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError) as e:
        raise _untrusted(Path(p), f"holds no usable RNG state ({type(e).__name__}: {e})") from None
    if scaler is not None and isinstance(blob.get("scaler"), dict):
        scaler.load_state_dict(blob["scaler"])


def load_optimizer(folder: Path, optimizer, scaler=None) -> bool:
    blob = read_optimizer(folder)
    if blob is None:
        return False
    apply_optimizer(blob, optimizer, scaler)
    return True


def find(run_dir: Path, kind: str = "last") -> Path | None:
    return checkpoint_dir(run_dir, kind)


def clean_temp(run_dir: Path) -> None:
    """Remove half-written temp folders left by a kill."""
    base = Path(run_dir) / "checkpoints"
    if base.is_dir():
        for p in base.glob(".*.tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


# ------------------------------------------------------------------------------------------ a session's checkpoint
def nonfinite_parameters(model) -> list[str]:
    """Names of the parameters holding a NaN or an infinity."""
    with torch.no_grad():
        return [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]


def _refuse_nonfinite(s: Session, st: TrainState, kind: str, bad: list[str]) -> StopRun:
    kept = find(s.run_dir, kind)
    if kept is not None:
        try:
            kept_msg = f"the {kind} checkpoint of step {_read_state(kept).get('step')} is kept"
        except StopRun:
            kept_msg = f"the {kind} checkpoint on disk is kept"
    else:
        kept_msg = f"no {kind} checkpoint has been written"
    n = sum(1 for _ in s.model.parameters())
    return StopRun("nonfinite", f"the model's parameters are not finite at step {st.step} ({len(bad)} of {n} "
                   f"tensors, first {bad[0]}): not written as the {kind} checkpoint; {kept_msg}",
                   "lower train.lr, set train.grad_clip, or use precision fp32/bf16 instead of fp16; resume from "
                   "the kept checkpoint with `cram train --resume RUN_DIR`")


def write(s: Session, st: TrainState, kind: str, clock: BudgetClock, emit: Callable,
          with_optimizer: bool = True) -> None:
    """A training session's checkpoint, with the budget clock paused: rank 0 writes it and emits `checkpoint`,
    the other ranks wait, so nobody reads a half-written folder. Parameters that are not finite are never written:
    StopRun `nonfinite` naming the checkpoint that is kept (every rank holds the same parameters, so all ranks
    stop together).

    A failed write is classified by errno (engine.diskerrors): a full disk (or quota) or a problem of the folder
    (permissions, read-only, not a directory) keeps the previous checkpoint and training goes on, retrying at the
    next interval; it is a `log` warning once per run of failures (an `error` event would mark a live run failed).
    A symlink planted in the run is StopRun `untrusted`; anything else (a bug) is raised as it is."""
    from .diskerrors import classify

    bad = nonfinite_parameters(s.model)
    if bad:
        raise _refuse_nonfinite(s, st, kind, bad)
    with clock.paused():
        st.elapsed = clock.elapsed
        try:
            if s.dist.is_main:
                try:
                    path = save(s.run_dir, kind, s.model, s.tokenizer, s.meta, st.to_dict(),
                                s.optimizer if with_optimizer else None, getattr(s, "scaler", None))
                except Exception as e:  # noqa: BLE001  (safetensors' SafetensorError has no better base)
                    why, message = classify(e, s.run_dir)
                    if why == "untrusted":
                        raise StopRun("untrusted", f"cannot write the {kind} checkpoint: {message}",
                                      "the run directory holds a symbolic link; remove it") from None
                    if why not in ("disk", "config"):
                        raise
                    if not getattr(s, "checkpoint_failing", False):
                        fix = "free disk space" if why == "disk" else "fix the folder's permissions"
                        emit("log", level="warning", message=f"cannot write the {kind} checkpoint ({why}): "
                             f"{message}; the previous checkpoint is kept and training continues, retrying at the "
                             f"next checkpoint ({fix})")
                    s.checkpoint_failing = True
                else:
                    s.checkpoint_failing = False
                    emit("checkpoint", kind=kind, step=st.step, elapsed=round(st.elapsed, 3), path=str(path))
        finally:
            s.dist.barrier()
