"""Checkpoints: model + tokenizer (save_pretrained), optimizer, RNG states, step, elapsed, data position.

Written to `checkpoints/.KIND.tmp-*/` first and swapped in with `rundir.replace_dir`, so a kill (or a full disk)
at any moment leaves the previous checkpoint usable.
"""
from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable

import numpy as np
import torch

from . import model as model_lib
from .contract.rundir import checkpoint_dir, replace_dir

if TYPE_CHECKING:
    from .budget import BudgetClock
    from .session import Session
    from .state import TrainState


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, kind: str, model, tokenizer, meta: dict, trainer_state: dict,
         optimizer=None) -> Path:
    base = Path(run_dir) / "checkpoints"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{kind}.tmp-", dir=base))
    try:
        model_lib.save(model, tokenizer, meta, tmp)
        if optimizer is not None:
            torch.save({"optimizer": optimizer.state_dict(), "rng": rng_state()}, tmp / "optimizer.pt")
        # trainer_state.json last: its presence marks a complete checkpoint
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
        final = base / kind
        replace_dir(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_state(folder: Path) -> dict:
    return json.loads((Path(folder) / "trainer_state.json").read_text())


def load_optimizer(folder: Path, optimizer) -> bool:
    p = Path(folder) / "optimizer.pt"
    if not p.is_file():
        return False
    blob = torch.load(p, map_location="cpu", weights_only=False)
    optimizer.load_state_dict(blob["optimizer"])
    set_rng_state(blob["rng"])
    return True


def find(run_dir: Path, kind: str = "last") -> Path | None:
    return checkpoint_dir(run_dir, kind)


def clean_temp(run_dir: Path) -> None:
    """Remove half-written temp folders left by a kill."""
    base = Path(run_dir) / "checkpoints"
    if base.is_dir():
        for p in base.glob(".*.tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def write(s: Session, st: TrainState, kind: str, clock: BudgetClock, emit: Callable,
          with_optimizer: bool = True) -> None:
    """A training session's checkpoint, with the budget clock paused: rank 0 writes it and emits `checkpoint`,
    the other ranks wait, so nobody reads a half-written folder. A failed write (a full disk) is an `error`
    event (kind disk) and training goes on: the previous checkpoint is intact."""
    with clock.paused():
        st.elapsed = clock.elapsed
        try:
            if s.dist.is_main:
                path = save(s.run_dir, kind, s.model, s.tokenizer, s.meta, st.to_dict(),
                            s.optimizer if with_optimizer else None)
                emit("checkpoint", kind=kind, step=st.step, elapsed=round(st.elapsed, 3), path=str(path))
        except OSError as e:
            emit("error", kind="disk", message=f"cannot write the {kind} checkpoint: {e}",
                 hint="free disk space; the previous checkpoint is intact and training continues")
        finally:
            s.dist.barrier()
