"""`cram eval RUN_DIR`: evaluate a run's checkpoint on a split, writing results like a training run does."""
from __future__ import annotations

import sys
from pathlib import Path

from .contract import config as config_lib
from .contract.events import EventWriter
from .progress import ProgressLine


def evaluate_run(run_dir: Path, split: str = "test", beam: int | None = None, checkpoint: str = "best",
                 jsonl: bool = False) -> int:
    from .train import Trainer

    cfg_path = Path(run_dir) / "config.json"
    if not cfg_path.is_file():
        print(f"cram: {run_dir} is not a run directory (no config.json)", file=sys.stderr)
        return 2
    cfg = config_lib.load(cfg_path)
    writer = EventWriter(Path(run_dir) / "events.jsonl", sys.stdout if jsonl else None)
    trainer = Trainer(cfg, Path(run_dir), writer, progress=None if jsonl else ProgressLine())
    try:
        return trainer.evaluate_checkpoint(checkpoint, split, beam)
    finally:
        writer.close()
