"""Published BLEU-4 reference rows (CodeXGLUE code-to-text, smoothed BLEU-4) from resources/reference/."""
from __future__ import annotations

import csv
import os
from pathlib import Path

from engine.contract.config import resource
from engine.contract.events import number

# the shipped table (resources/reference/, installed as engine.resources: engine.contract.config.resource finds it)
REFERENCE_CSV = Path(str(resource("reference", "published_bleu.csv")))
DEFAULT_REFERENCES = ("CodeBERT", "Cramming LM (student re-run)", "CodeT5-base")
_TEXT_COLUMNS = ("model", "source")


def load_reference_table(path: str | os.PathLike | None = None) -> list[dict]:
    """Rows of published_bleu.csv: {'model', 'source', <language>: float | None, ..., 'overall': float | None}.
    Empty cells become None. A missing file gives an empty list (the views then show our numbers only)."""
    p = Path(path) if path else REFERENCE_CSV
    if not p.is_file():
        return []
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        row: dict = {}
        for k, v in r.items():
            if k is None:
                continue
            k = k.strip()
            v = (v or "").strip()
            if k in _TEXT_COLUMNS:
                row[k] = v
            else:
                try:
                    row[k] = number(float(v)) if v else None     # 'nan' / 'inf' cells: None too
                except ValueError:
                    row[k] = None
        if row.get("model"):
            out.append(row)
    return out


def select_references(rows: list[dict], names=DEFAULT_REFERENCES) -> list[dict]:
    """The rows named (in `names` order); names not in the table are skipped."""
    by_name = {r["model"]: r for r in rows}
    return [by_name[n] for n in names if n in by_name]
