"""What the console adds to a run: a display name and notes, in RUN_DIR/console.json (a console-owned file: the
engine never reads or writes it, and the console never writes any engine file). The file is read without following
a symlink and written atomically (a link in its place is replaced, never followed); anything malformed reads as
empty."""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.contract.files import open_read
from engine.contract.rundir import CONSOLE_FILE, atomic_write_json

META_FILE = CONSOLE_FILE            # RUN_DIR/console.json, named in the contract's run-directory layout
MAX_BYTES = 1 << 20
FIELDS = ("name", "notes", "archived_from")


def read_meta(run_dir: str | os.PathLike) -> dict:
    """{name, notes} (strings) from RUN_DIR/console.json; {} when missing or malformed."""
    p = Path(run_dir) / META_FILE
    try:
        with open_read(p) as fh:
            data = json.loads(fh.read(MAX_BYTES).decode("utf-8", errors="replace"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in FIELDS if isinstance(data.get(k), str)}


def write_meta(run_dir: str | os.PathLike, **fields: str | None) -> dict:
    """Update console.json with these fields (None or '' removes one); returns what is stored."""
    d = Path(run_dir)
    meta = read_meta(d)
    for k, v in fields.items():
        if k not in FIELDS:
            raise KeyError(k)
        if v:
            meta[k] = str(v)
        else:
            meta.pop(k, None)
    atomic_write_json(d / META_FILE, meta)
    return meta
