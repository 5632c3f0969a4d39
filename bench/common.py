"""Shared helpers for the benchmarks: environment, machine/load description, data preparation, results.

Environment variables are set before torch is imported anywhere (bench/__main__.py imports this module first), the
same way the `cram` CLI does, so the benchmark measures the engine as users run it.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
OUT = Path(os.environ.get("CRAM_BENCH_OUT") or BENCH / "out")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- machine and load ---------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict:
    import torch
    import transformers

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "platform": platform.platform(),
            "date": _dt.datetime.now().isoformat(timespec="seconds"), "loadavg": loadavg(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        import PySide6

        info["pyside6"] = PySide6.__version__
    except ImportError:
        pass
    return info


# -- results ------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the summary table. `higher_is_better` decides pass/miss against `target`."""
    item: str
    metric: str
    engine: float | None
    reference: float | None = None
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""


@dataclass
class ItemResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    seconds: float = 0.0
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        return f"{v:.{digits}g}"
    return str(v)


def table(results: list[ItemResult]) -> str:
    head = ("item", "metric", "engine", "reference", "ratio", "target", "result")
    lines = [head]
    for r in results:
        for row in r.rows:
            res = "-" if row.passed is None else ("PASS" if row.passed else "MISS")
            ratio = f"{row.ratio:.2f}x" if isinstance(row.ratio, float) else fmt(row.ratio)
            lines.append((row.item, row.metric, fmt(row.engine), fmt(row.reference), ratio, row.target, res))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    out = []
    for k, line in enumerate(lines):
        out.append("  ".join(str(c).ljust(w) if i < 2 or i >= 5 else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths))).rstrip())
        if k == 0:
            out.append("-" * len(out[0]))
    return "\n".join(out)


def markdown_table(results: list[ItemResult]) -> str:
    out = ["| item | metric | engine | reference | ratio | target | result |", "|---|---|---:|---:|---:|---|---|"]
    for r in results:
        for row in r.rows:
            res = "-" if row.passed is None else ("**PASS**" if row.passed else "**MISS**")
            ratio = f"{row.ratio:.2f}×" if isinstance(row.ratio, float) else fmt(row.ratio)
            out.append(f"| {row.item} | {row.metric} | {fmt(row.engine)} | {fmt(row.reference)} | {ratio} | "
                       f"{row.target} | {res} |")
    return "\n".join(out)


def write_results(results: list[ItemResult], argv: list[str], total_seconds: float, name: str = "latest") -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"command": "python -m bench " + " ".join(argv), "machine": machine(), "total_seconds":
           round(total_seconds, 1), "items": [r.to_dict() for r in results], "table": table(results),
           "markdown": markdown_table(results)}
    text = json.dumps(doc, indent=2, default=str)
    p = OUT / f"{name}.json"
    p.write_text(text)
    if name == "latest" and argv:
        (OUT / f"latest-{argv[0]}.json").write_text(text)   # the last `all`, `train`, ... kept apart
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (OUT / "history").mkdir(exist_ok=True)
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(argv) or "all")[:60]
    (OUT / "history" / f"{stamp}-{tag}.json").write_text(text)
    return p


# -- data -----------------------------------------------------------------------------------------------------------
_CACHE: dict = {}


def corpus_splits() -> dict:
    """{(lang, split): [Example]} of the built-in corpus (built on first use, cached per process)."""
    if "splits" not in _CACHE:
        from engine import corpus, data

        t0 = time.perf_counter()
        root = corpus.ensure_builtin_corpus()
        loaded = data.load_corpus(root, ["python"])
        _CACHE["splits"] = {k: v[0] for k, v in loaded.items()}
        _CACHE["corpus_root"] = str(root)
        log(f"built-in corpus {root}: " + ", ".join(f"{s} {len(v)}" for (_, s), v in _CACHE["splits"].items())
            + f" ({time.perf_counter() - t0:.1f}s)")
    return _CACHE["splits"]


def tokenizer(vocab_size: int):
    """The engine's BPE tokenizer trained on the built-in training split (as engine.session.make_tokenizer does)."""
    key = ("tok", vocab_size)
    if key not in _CACHE:
        from engine.tokenizer import train_bpe

        splits = corpus_splits()
        texts = (t for (lang, split), exs in splits.items() if split == "train" for e in exs
                 for t in (e.source, e.target))
        _CACHE[key] = train_bpe(texts, vocab_size)
    return _CACHE[key]


class QuietWriter:
    """An engine EventWriter stand-in that keeps events in memory (for sessions set up outside engine.train.run)."""

    def __init__(self):
        self.events: list[dict] = []

    def emit(self, event: str, **fields) -> dict:
        from engine.contract.events import encode

        ev = json.loads(encode(event, **fields))
        self.events.append(ev)
        return ev

    def close(self) -> None:
        pass


def percentile(xs, q: float):
    import numpy as np

    return float(np.percentile(np.asarray(xs, dtype=float), q)) if len(xs) else None
