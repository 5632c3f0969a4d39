"""Replaying a run directory into a RunState (cramgui.run_state.RunState mixes this in): events.jsonl through the
one event reader (cramgui.tailer.replay), then results.csv / samples.jsonl / config.json for what the events lack."""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.contract.rundir import CONFIG, read_results, read_samples

from .tailer import replay


class RunReplay:
    """The replay part of RunState (uses its clear / ingest_many / _apply / _add_samples)."""

    def load_run_dir(self, path: str | os.PathLike) -> None:
        """Clear, then replay RUN_DIR/events.jsonl (a torn last line is skipped; `replay_offset` is left at its
        start so a follower can read on from there). results.csv / samples.jsonl / config.json fill in what the
        events lack."""
        d = Path(path)
        self.clear()
        self.run_dir = str(d)
        events, self.replay_offset = replay(d)   # complete lines only: a torn tail is left for a follower
        self.ingest_many(events)
        self.run_dir = str(d)
        if self.config is None:
            cfg_path = d / CONFIG
            if cfg_path.is_file():
                try:
                    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    cfg = None
                self.config = cfg if isinstance(cfg, dict) else None
        if not self.results:
            for row in read_results(d):
                ev = {"event": "result", **{k: (None if v == "" else v) for k, v in row.items()}}
                self._apply("result", ev)
        if not self.samples:
            by_lang: dict[str, list[dict]] = {}
            for s in read_samples(d):
                if isinstance(s, dict):
                    by_lang.setdefault(str(s.get("language") or "?"), []).append(s)
            for lang, items in by_lang.items():
                self._add_samples(lang, items)
                self.samples_added.emit(lang)
