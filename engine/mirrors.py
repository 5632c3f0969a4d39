"""Copies of the event stream in formats other tools read: `metrics.csv` (pandas, spreadsheets) and TensorBoard
event files. events.jsonl stays the source of truth; these are derived from it.

Live: the engine's emitter hands every event to `Mirrors.on_event` (open_mirrors: metrics.csv always, TensorBoard
when log.tensorboard = true). For finished and old runs, `cram export metrics` / `cram export tensorboard` build
the same files from events.jsonl (export_metrics, export_tensorboard), so live and exported files hold the same
rows and scalars. A mirror that fails (a full disk, a missing package) is dropped with one message on stderr;
training never stops for it.

TensorBoard files are written with the tensorboard package's own EventFileWriter and protos (no TensorFlow, no
torch): the optional extra `cramgui[tensorboard]`, imported only when used.

  step events     train/loss, train/lr, train/tokens_per_s, train/grad_norm, train/mfu, train/progress, train/epoch
  eval events     dev/loss, dev/ppl, dev/bleu, dev/bleu/LANG, dev/eval_seconds
  result events   SPLIT/bleu4/LANG, SPLIT/nltk_bleu4/LANG (at the last training step)
  started         the config as hparams (+ the config as text), once per run
  samples         text SPLIT/samples/LANG: a table of code, reference, prediction, sentence BLEU
  done            the hparams session's end (status)
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from .contract.events import number, read_events
from .contract.files import inside, open_append, open_read, say
from .contract.rundir import EVENTS, atomic_write_text, safe_name, writer_alive

METRICS_FILE = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"
EXPORT_SUFFIX = ".cram"          # our event files end with it; re-exporting replaces only those
# metrics.csv: one row per step or eval event; dev_bleu_LANG columns follow, one per language of the run
STEP_COLUMNS = ["elapsed", "progress", "epoch", "loss", "lr", "tokens", "tokens_per_s", "examples", "grad_norm",
                "mfu", "max_memory_allocated", "max_memory_reserved"]
EVAL_COLUMNS = {"dev_loss": "dev_loss", "dev_ppl": "dev_ppl", "dev_bleu": "dev_bleu", "dev_n": "n",
                "eval_seconds": "eval_seconds", "best": "best"}
BASE_COLUMNS = ["event", "step", "time"] + STEP_COLUMNS + list(EVAL_COLUMNS)
STEP_SCALARS = {"loss": "train/loss", "lr": "train/lr", "tokens_per_s": "train/tokens_per_s",
                "grad_norm": "train/grad_norm", "mfu": "train/mfu", "progress": "train/progress",
                "epoch": "train/epoch"}
EVAL_SCALARS = {"dev_loss": "dev/loss", "dev_ppl": "dev/ppl", "dev_bleu": "dev/bleu",
                "eval_seconds": "dev/eval_seconds"}
TB_MISSING = ("TensorBoard files need the tensorboard package: pip install 'cramgui[tensorboard]' "
              "(or pip install tensorboard)")


class MirrorUnavailable(RuntimeError):
    """A mirror cannot be written here (a package is missing); the message says what to install."""


def languages_of(config: dict | None) -> list[str]:
    langs = ((config or {}).get("data") or {}).get("languages") or []
    return [str(x) for x in langs if isinstance(x, str)]


# ---------------------------------------------------------------------------------------------------- metrics.csv
def _cell(value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    v = number(value)
    if v is None:
        return ""
    return str(int(value)) if isinstance(value, int) else repr(float(value))


def metrics_row(ev: dict) -> dict | None:
    """The metrics.csv row of one event (step and eval events; None for the others)."""
    kind = ev.get("event")
    if kind not in ("step", "eval"):
        return None
    row = {"event": kind, "step": _cell(ev.get("step")), "time": _cell(ev.get("time"))}
    if kind == "step":
        for c in STEP_COLUMNS:
            row[c] = _cell(ev.get(c))
    else:
        row["elapsed"] = _cell(ev.get("elapsed"))
        for c, key in EVAL_COLUMNS.items():
            row[c] = _cell(ev.get(key))
        per = ev.get("per_language")
        if isinstance(per, dict):
            for lang, b in per.items():
                row[f"dev_bleu_{lang}"] = _cell(b)
    return row


def metrics_columns(languages: list[str]) -> list[str]:
    return BASE_COLUMNS + [f"dev_bleu_{lang}" for lang in languages]


def _header_of(path: Path) -> list[str] | None:
    """The header of an existing metrics.csv (a resumed run appends under it), None when empty."""
    with open_read(path, binary=False) as fh:
        first = fh.readline()
    if not first.strip():
        return None
    try:
        return next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return None


class MetricsCsv:
    """Appends a row to RUN_DIR/metrics.csv for every step and eval event (never through a symlink). A resumed
    run appends below the rows of its earlier sessions, under their header."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = inside(Path(run_dir), Path(run_dir) / METRICS_FILE)
        self._fh = None
        self._writer = None
        self._languages: list[str] = []

    def _open(self) -> None:
        fh = open_append(self.path)  # refuses a symlinked metrics.csv
        columns = _header_of(self.path) if fh.tell() > 0 else None
        if fh.tell() > 0:
            with open_read(self.path) as raw:  # a kill mid-row leaves a torn last line: start on a fresh one
                raw.seek(-1, os.SEEK_END)
                if raw.read(1) != b"\n":
                    fh.write("\n")
        self._fh = fh
        self._writer = csv.DictWriter(fh, fieldnames=columns or metrics_columns(self._languages),
                                      extrasaction="ignore", lineterminator="\n")
        if columns is None:
            self._writer.writeheader()

    def on_event(self, ev: dict) -> None:
        if ev.get("event") == "started" and not self._languages:
            self._languages = languages_of(ev.get("config"))
        row = metrics_row(ev)
        if row is None:
            return
        if self._fh is None:
            self._open()
        self._writer.writerow(row)
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def metrics_text(events) -> str:
    """The whole metrics.csv of a list of events (what the live mirror writes, in one go)."""
    events = list(events)
    langs: list[str] = []
    for ev in events:
        if ev.get("event") == "started":
            langs += [x for x in languages_of(ev.get("config")) if x not in langs]
        elif ev.get("event") == "eval" and isinstance(ev.get("per_language"), dict):
            langs += [str(x) for x in ev["per_language"] if str(x) not in langs]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=metrics_columns(langs), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for ev in events:
        row = metrics_row(ev)
        if row is not None:
            w.writerow(row)
    return buf.getvalue()


def export_metrics(run_dir: str | os.PathLike) -> tuple[Path, int]:
    """Rewrite RUN_DIR/metrics.csv from events.jsonl (atomically). Returns (path, rows). Refused while the run's
    writer is alive: a live run writes the file itself."""
    run_dir = Path(run_dir)
    if not (run_dir / EVENTS).is_file() or (run_dir / EVENTS).is_symlink():
        raise FileNotFoundError(f"{run_dir} has no {EVENTS}")
    if writer_alive(run_dir):
        raise RuntimeError(f"{run_dir} is running; it writes {METRICS_FILE} itself")
    text = metrics_text(read_events(run_dir / EVENTS))
    path = inside(run_dir, run_dir / METRICS_FILE)
    atomic_write_text(path, text)
    return path, text.count("\n") - 1


# ---------------------------------------------------------------------------------------------------- TensorBoard
def _tb():
    """The tensorboard modules used here, or MirrorUnavailable."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
        from tensorboard.plugins.hparams import metadata as hp_metadata
        from tensorboard.plugins.text import metadata as text_metadata
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util import tensor_util
    except ImportError as e:
        raise MirrorUnavailable(f"{TB_MISSING} ({e})") from None
    return {"event_pb2": event_pb2, "summary_pb2": summary_pb2, "tensor_pb2": tensor_pb2,
            "tensor_shape_pb2": tensor_shape_pb2, "types_pb2": types_pb2, "api_pb2": api_pb2,
            "plugin_data_pb2": plugin_data_pb2, "hp_metadata": hp_metadata, "text_metadata": text_metadata,
            "EventFileWriter": EventFileWriter, "tensor_util": tensor_util}


def flat_config(config: dict, prefix: str = "") -> dict:
    """The config as hparams: section.key -> bool / number / string (lists joined with commas)."""
    out = {}
    for k, v in (config or {}).items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_config(v, name + "."))
        elif isinstance(v, bool) or (isinstance(v, (int, float)) and number(v) is not None):
            out[name] = v
        elif isinstance(v, (list, tuple)):
            out[name] = ",".join(str(x) for x in v)
        elif v is not None and not isinstance(v, (int, float)):
            out[name] = str(v)
    return out


def _md(value) -> str:
    """A Markdown table cell of run text (one line, pipes and backticks escaped)."""
    return " ".join(str(value).split()).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def samples_markdown(items: list) -> str:
    rows = ["| idx | code | reference | prediction | BLEU |", "|---:|---|---|---|---:|"]
    for it in items or []:
        if not isinstance(it, dict):
            continue
        code = _md(it.get("code", ""))
        code = code[:300] + ("…" if len(code) > 300 else "")
        bleu = number(it.get("bleu"))
        rows.append(f"| {_md(it.get('idx', ''))} | {code} | {_md(it.get('reference', ''))} | "
                    f"{_md(it.get('prediction', ''))} | {'' if bleu is None else f'{bleu:.2f}'} |")
    return "\n".join(rows)


class TensorBoardWriter:
    """One TensorBoard run (an event file in `logdir`) fed with cram events, in order (see the module doc)."""

    def __init__(self, logdir: str | os.PathLike, flush_secs: float = 10):
        self.tb = _tb()
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._w = self.tb["EventFileWriter"](str(self.logdir), flush_secs=flush_secs, filename_suffix=EXPORT_SUFFIX)
        self.path = Path(self._w.get_logdir()) / Path(self._w._file_name).name  # noqa: SLF001 (for the report)
        self.step = 0
        self._hparams = False
        self.scalars = 0

    # -- raw writes
    def _event(self, values: list, wall_time: float | None, step: int | None = None) -> None:
        s = self.tb["summary_pb2"].Summary(value=values)
        ev = self.tb["event_pb2"].Event(summary=s, step=int(self.step if step is None else step))
        ev.wall_time = float(wall_time) if number(wall_time) is not None else 0.0
        self._w.add_event(ev)

    def scalar(self, tag: str, value, wall_time, step: int | None = None) -> None:
        v = number(value)
        if v is None:
            return
        self._event([self.tb["summary_pb2"].Summary.Value(tag=tag, simple_value=v)], wall_time, step)
        self.scalars += 1

    def text(self, tag: str, text: str, wall_time) -> None:
        meta = self.tb["text_metadata"].create_summary_metadata(display_name=tag, description="")
        tensor = self.tb["tensor_pb2"].TensorProto(
            dtype=self.tb["types_pb2"].DT_STRING, string_val=[text.encode("utf-8")],
            tensor_shape=self.tb["tensor_shape_pb2"].TensorShapeProto(
                dim=[self.tb["tensor_shape_pb2"].TensorShapeProto.Dim(size=1)]))
        self._event([self.tb["summary_pb2"].Summary.Value(tag=tag, metadata=meta, tensor=tensor)], wall_time)

    def _plugin(self, tag: str, data, wall_time) -> None:
        pb2 = self.tb["summary_pb2"]
        meta = self.tb["hp_metadata"].create_summary_metadata(data)
        null = self.tb["tensor_util"].make_tensor_proto(0.0)
        self._event([pb2.Summary.Value(tag=tag, metadata=meta, tensor=null)], wall_time, step=0)

    def hparams(self, config: dict, wall_time) -> None:
        """The config as the hparams dashboard's session (experiment + session start, in this run)."""
        api, pd, md = self.tb["api_pb2"], self.tb["plugin_data_pb2"], self.tb["hp_metadata"]
        hp = flat_config(config)
        infos = []
        start = pd.SessionStartInfo(start_time_secs=float(number(wall_time) or 0.0))
        for name, v in hp.items():
            if isinstance(v, bool):
                infos.append(api.HParamInfo(name=name, type=api.DATA_TYPE_BOOL))
                start.hparams[name].bool_value = v
            elif isinstance(v, (int, float)):
                infos.append(api.HParamInfo(name=name, type=api.DATA_TYPE_FLOAT64))
                start.hparams[name].number_value = float(v)
            else:
                infos.append(api.HParamInfo(name=name, type=api.DATA_TYPE_STRING))
                start.hparams[name].string_value = v
        split = _tag(((config or {}).get("eval") or {}).get("split") or "test")
        metric_tags = ["dev/bleu", "dev/loss"] + [f"{split}/bleu4/{_tag(lang)}" for lang in languages_of(config)]
        metrics = [api.MetricInfo(name=api.MetricName(tag=t)) for t in metric_tags]
        exp = api.Experiment(hparam_infos=infos, metric_infos=metrics, time_created_secs=start.start_time_secs)
        self._plugin(md.EXPERIMENT_TAG, pd.HParamsPluginData(experiment=exp, version=md.PLUGIN_DATA_VERSION),
                     wall_time)
        self._plugin(md.SESSION_START_INFO_TAG,
                     pd.HParamsPluginData(session_start_info=start, version=md.PLUGIN_DATA_VERSION), wall_time)
        self._hparams = True

    def session_end(self, status: str | None, wall_time) -> None:
        api, pd, md = self.tb["api_pb2"], self.tb["plugin_data_pb2"], self.tb["hp_metadata"]
        code = {"completed": api.STATUS_SUCCESS, "failed": api.STATUS_FAILURE}.get(status or "", api.STATUS_UNKNOWN)
        end = pd.SessionEndInfo(status=code, end_time_secs=float(number(wall_time) or 0.0))
        self._plugin(md.SESSION_END_INFO_TAG,
                     pd.HParamsPluginData(session_end_info=end, version=md.PLUGIN_DATA_VERSION), wall_time)

    # -- cram events
    def on_event(self, ev: dict) -> None:
        kind, t = ev.get("event"), ev.get("time")
        if isinstance(ev.get("step"), int) and not isinstance(ev.get("step"), bool) and kind in ("step", "eval"):
            self.step = ev["step"]
        if kind == "started":
            if isinstance(ev.get("step"), int):
                self.step = ev["step"]
            if not self._hparams and isinstance(ev.get("config"), dict):
                self.hparams(ev["config"], t)
                self.text("run/config", "```\n" + json.dumps(ev["config"], indent=2) + "\n```", t)
        elif kind == "step":
            for key, tag in STEP_SCALARS.items():
                self.scalar(tag, ev.get(key), t)
        elif kind == "eval":
            for key, tag in EVAL_SCALARS.items():
                self.scalar(tag, ev.get(key), t)
            per = ev.get("per_language")
            if isinstance(per, dict):
                for lang, b in per.items():
                    self.scalar(f"dev/bleu/{_tag(lang)}", b, t)
            self.flush()
        elif kind == "result":
            lang, split = _tag(ev.get("language")), _tag(ev.get("split") or "test")
            self.scalar(f"{split}/bleu4/{lang}", ev.get("bleu4"), t)
            self.scalar(f"{split}/nltk_bleu4/{lang}", ev.get("nltk_bleu4"), t)
        elif kind == "samples":
            lang, split = _tag(ev.get("language")), _tag(ev.get("split") or "test")
            self.text(f"{split}/samples/{lang}", samples_markdown(ev.get("items") or []), t)
        elif kind == "done":
            if self._hparams:
                self.session_end(ev.get("status"), t)
            self.flush()

    def flush(self) -> None:
        self._w.flush()

    def close(self) -> None:
        self._w.close()


def _tag(value) -> str:
    return safe_name(str(value)) if value is not None else "unknown"


class TensorBoardMirror:
    """Live TensorBoard files in RUN_DIR/tensorboard/ (log.tensorboard = true); `tensorboard --logdir RUN_DIR`.
    Checks for the package at once (MirrorUnavailable) but creates the event file only with the first event."""

    def __init__(self, run_dir: str | os.PathLike):
        _tb()
        run_dir = Path(run_dir)
        self.logdir = inside(run_dir, run_dir / TENSORBOARD_DIR)
        self.writer: TensorBoardWriter | None = None

    def on_event(self, ev: dict) -> None:
        if self.writer is None:
            self.writer = TensorBoardWriter(self.logdir)
        self.writer.on_event(ev)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _old_event_files(logdir: Path, keep: Path) -> list[Path]:
    return [p for p in logdir.glob(f"events.out.tfevents.*{EXPORT_SUFFIX}")
            if p.name != keep.name and p.is_file() and not p.is_symlink()]


def export_tensorboard(run_dir: str | os.PathLike, logdir: str | os.PathLike | None = None) -> tuple[Path, int]:
    """TensorBoard files of a run from its events.jsonl, in `logdir` (default RUN_DIR/tensorboard/). Event files
    of an earlier export (or of the live mirror) in that folder are replaced. Returns (logdir, scalars written)."""
    run_dir = Path(run_dir)
    events = run_dir / EVENTS
    if not events.is_file() or events.is_symlink():
        raise FileNotFoundError(f"{run_dir} has no {EVENTS}")
    if logdir is None:
        if writer_alive(run_dir):
            raise RuntimeError(f"{run_dir} is running: export it elsewhere (--out DIR), or train with "
                               "log.tensorboard=true to get live files")
        logdir = inside(run_dir, run_dir / TENSORBOARD_DIR)
    w = TensorBoardWriter(logdir, flush_secs=3600)
    try:
        for ev in read_events(events):
            w.on_event(ev)
    finally:
        w.close()
    for p in _old_event_files(Path(logdir), w.path):
        p.unlink()
    return Path(logdir), w.scalars


# ---------------------------------------------------------------------------------------------------- live hook
class Mirrors:
    """The live mirrors of a run. `on_event` never raises: a failing mirror is closed, reported once, dropped."""

    def __init__(self, mirrors: list, problems: list[str] | None = None):
        self.mirrors = list(mirrors)
        self.problems = list(problems or [])   # messages for the caller to emit as `log` warnings

    def on_event(self, ev: dict) -> None:
        for m in list(self.mirrors):
            try:
                m.on_event(ev)
            except Exception as e:  # noqa: BLE001 - a mirror must never stop training
                say(f"cram: stopped writing {type(m).__name__} ({e})")
                self._drop(m)

    def _drop(self, m) -> None:
        self.mirrors.remove(m)
        try:
            m.close()
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        for m in list(self.mirrors):
            self._drop(m)


def open_mirrors(cfg, run_dir: str | os.PathLike) -> Mirrors:
    """The live mirrors for a training run (main rank): metrics.csv always, TensorBoard with log.tensorboard."""
    mirrors, problems = [], []
    run_dir = Path(run_dir)
    for make, wanted in ((MetricsCsv, True), (TensorBoardMirror, bool(getattr(cfg.log, "tensorboard", False)))):
        if not wanted:
            continue
        try:
            mirrors.append(make(run_dir))
        except MirrorUnavailable as e:
            problems.append(f"log.tensorboard: {e}")
        except OSError as e:
            problems.append(f"cannot write {make.__name__}: {e}")
    return Mirrors(mirrors, problems)
