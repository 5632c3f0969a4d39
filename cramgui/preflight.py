"""Preflight: what is allowed but will probably waste the run, found before Start (pure Python, no Qt).

Warnings, not errors: the form shows them at their field in orange and Start stays enabled.
  - a split the run needs (train, valid, the final split) holds no usable example, for a chosen language
    (from the Data tab's statistics: engine.contract.lengths.length_stats);
  - the dev evaluation interval is longer than the budget: no dev point (and no best checkpoint) before the end;
  - a max source / target length truncates most of the training examples (from the length histograms).
"""
from __future__ import annotations

from engine.contract.config import RunConfig

from .formatting import span

TRUNCATION_WARN = 0.5          # warn when more than this share of the training examples would be cut


def share_over(dist: dict, limit: int) -> float | None:
    """The share of examples longer than `limit` tokens, from a length distribution of length_stats ({"hist":
    {"edges", "counts", "overflow"}}): the bins above the limit, the bin holding it pro rata, and the overflow.
    None when the distribution has no examples."""
    hist = (dist or {}).get("hist") or {}
    edges, counts = hist.get("edges") or [], hist.get("counts") or []
    overflow = int(hist.get("overflow") or 0)
    total = sum(int(c) for c in counts) + overflow
    if total <= 0 or len(edges) != len(counts) + 1:
        return None
    over = float(overflow)
    for lo, hi, c in zip(edges[:-1], edges[1:], counts):
        if lo >= limit:
            over += c
        elif hi > limit:                 # bin [lo, hi) holds the limit: the part above it, assuming even spread
            over += c * (hi - limit) / max(hi - lo, 1)
    return min(1.0, over / total)


def preflight(cfg: RunConfig, stats: dict | None) -> dict[str, str]:
    """{field name: warning} for the config, with the data statistics when known (None: only the checks that
    need none)."""
    out: dict[str, str] = {}
    every, budget = float(cfg.eval.every_seconds), float(cfg.budget.seconds)
    if every > 0 and every >= budget:
        out["eval.every_seconds"] = (f"longer than the budget ({span(every)} ≥ {span(budget)}): no dev evaluation "
                                     "and no best checkpoint before the end")
    langs = (stats or {}).get("languages") or {}
    if not langs:
        return out
    needed = ["train", "valid", cfg.eval.split]
    empty = []
    for lang in cfg.data.languages:
        splits = langs.get(lang)
        if splits is None:
            continue                      # a language missing from the folder is already an error at the field
        for split in dict.fromkeys(needed):
            e = splits.get(split)
            if e is None:
                empty.append(f"{lang} {split} (no file)")
            elif not int(e.get("n") or 0):
                skipped = int(e.get("skipped") or 0)
                empty.append(f"{lang} {split}" + (f" ({skipped} lines skipped)" if skipped else ""))
    if empty:
        out["data.languages"] = "no usable example in " + ", ".join(empty)
    unit = "whitespace tokens" if stats.get("unit", "whitespace") == "whitespace" else "tokens"
    for field, key, what in (("data.max_source_len", "code", "code"),
                             ("data.max_target_len", "summary", "summaries")):
        limit = int(getattr(cfg.data, field.split(".")[1]))
        worst = None
        for lang in cfg.data.languages:
            e = (langs.get(lang) or {}).get("train")
            share = share_over(e.get(key), limit) if e else None
            if share is not None and (worst is None or share > worst[0]):
                worst = (share, lang, int((e.get(key) or {}).get("covering") or 0))
        if worst and worst[0] > TRUNCATION_WARN:
            share, lang, covering = worst
            out[field] = (f"truncates about {share:.0%} of the {lang} training {what} ({unit}; "
                          f"{stats.get('coverage', 0.95):.0%} fit in {covering})")
    return out
