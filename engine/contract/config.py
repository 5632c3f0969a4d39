"""One dataclass tree for a run: model, data, train, budget, eval, hardware.

This module is pure Python (no torch, no Qt): the console imports it to build its form and to validate values
with exactly the engine's rules, so the two cannot drift.

Every field carries metadata used by the CLI, the console and the docs:
  help     one-line description (tooltip in the console)
  choices  allowed values (strings)
  min/max  numeric range (inclusive)
  unit     display hint ("s", "tokens", ...)
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
from importlib import resources as _resources

import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as the `tomli` package
    import tomli as tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .paths import LANGUAGES  # noqa: F401  (re-exported: config.LANGUAGES is what validation checks)
from .rundir import atomic_write_text
from .schedule import WSD_DECAY, WSD_FLOOR


def resource(*parts: str):
    """A file shipped with the package (the repository's top-level resources/, installed as engine.resources)."""
    try:
        root = _resources.files("engine.resources")
    except ModuleNotFoundError:  # a source checkout on sys.path without an install: the folder itself
        root = Path(__file__).resolve().parent.parent.parent / "resources"
    return root.joinpath(*parts)


PRESETS_DIR = resource("presets")


class ConfigError(ValueError):
    """A config value is invalid. `field` is the dotted name, `message` says what is allowed."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def f(default: Any, help: str, *, choices=None, min=None, max=None, unit: str = "", factory=None):
    meta = {"help": help, "choices": choices, "min": min, "max": max, "unit": unit}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    source: str = f("scratch", "scratch: train a fresh model (with its own BPE tokenizer); encoder: pretrained "
                    "RoBERTa-style encoder + fresh Transformer decoder (CodeBERT code2nl); seq2seq: any pretrained "
                    "encoder-decoder (e.g. CodeT5)", choices=["scratch", "encoder", "seq2seq"])
    size: str = f("tiny", "Size preset for a from-scratch model: micro (d_model 48, a 2-minute CPU budget), tiny "
                  "(64; tests, CPU), small (256), base (CodeBERT's shape)", choices=["micro", "tiny", "small", "base"])
    name_or_path: str = f("", "Hub id or local folder of the pretrained encoder / seq2seq model "
                          "(e.g. microsoft/codebert-base, Salesforce/codet5-base); with model.source=seq2seq also "
                          "an earlier run's directory: a warm start from its best (else last) checkpoint")
    decoder_layers: int = f(6, "Number of Transformer decoder layers for the encoder recipe", min=1, max=48)
    norm: str = f("post", "Layer norms of a from-scratch model. post: BART's (LayerNorm after each residual "
                  "block); pre: mBART-shaped (LayerNorm before each block and after the last one)",
                  choices=["post", "pre"])
    vocab_size: int = f(8000, "BPE vocabulary size trained for a from-scratch model", min=300, max=100000)
    dropout: float = f(0.1, "Dropout probability for the fresh parts of the model", min=0.0, max=0.9)
    decoder: str = f("engine", "Decoder of the encoder recipe. engine: a RoBERTa-style causal decoder sized from the "
                     "encoder (GELU, FFN = the encoder's); code2nl: the original code2nl decoder (FFN 2048, ReLU, "
                     "post-norm, embeddings shared with the encoder, tanh dense head tied to the encoder's word "
                     "embeddings)", choices=["engine", "code2nl"])


@dataclass
class DataConfig:
    source: str = f("builtin", "builtin: code/docstring pairs built from this Python's standard library; "
                    "codexglue: a CodeXGLUE code-to-text folder (DIR/{lang}/{train,valid,test}.jsonl)",
                    choices=["builtin", "codexglue"])
    path: str = f("", "CodeXGLUE folder (for source=codexglue) or corpus cache folder (builtin; empty = default)")
    languages: list = f(None, "Languages to train and evaluate on (comma-separated on the command line)",
                        factory=lambda: ["python"])
    max_train: int = f(0, "Use at most this many training examples per language (0 = all)", min=0)
    max_valid: int = f(0, "Use at most this many validation examples per language (0 = all)", min=0)
    max_test: int = f(0, "Use at most this many test examples per language (0 = all)", min=0)
    max_line_bytes: int = f(4 << 20, "Skip data lines longer than this (counted as too_long); bounds the memory "
                            "one damaged line can take", min=1024, max=1 << 30, unit="bytes")
    max_source_len: int = f(256, "Maximum source (code) length in tokens; longer code is truncated",
                            min=8, max=4096, unit="tokens")
    max_target_len: int = f(128, "Maximum summary length in tokens, for training and generation",
                            min=4, max=1024, unit="tokens")
    site_packages: bool = f(False, "builtin corpus: also use installed site-packages (more data, less canonical)")
    site_packages_train: bool = f(False, "builtin corpus: also TRAIN on the installed site-packages' functions "
                                  "(about 9x more examples; dev and test stay the standard library's, and "
                                  "functions whose code equals a held-out one are dropped)")
    builtin_train: bool = f(False, "codexglue data: also TRAIN on the built-in Python corpus (the standard library's "
                            "and the installed site-packages' functions, about 49k): more code and English "
                            "summaries for a small training split; dev, test and the floor stay the CodeXGLUE "
                            "files'")
    oversample: int = f(1, "With data.site_packages_train or data.builtin_train: every epoch visits each of the "
                        "data's own training examples this many times and each added one once (without an added "
                        "corpus there is nothing to weigh against, and it changes nothing), so a short budget "
                        "sees more in-domain examples (the standard library's on the built-in corpus), and the "
                        "BPE tokenizer counts each text as often; dev, test and the floor are unchanged",
                        min=1, max=100)
    split_identifiers: bool = f(False, "Split identifiers in the code into lower-case words (get_file_name, "
                                "getFileName -> get file name), so the words they share with summaries are the "
                                "same tokens (as the from-scratch Transformer baselines of code summarization do)")
    lowercase: bool = f(False, "Lower-case the code and the summaries the model learns from, so 'Return' and "
                        "'return' are one token: the model writes lower-case summaries, which scores the same "
                        "because BLEU lower-cases both sides; references and samples keep their case")


@dataclass
class TrainConfig:
    lr: float = f(5e-4, "Peak learning rate (AdamW)", min=1e-7, max=1.0)
    batch_size: int = f(32, "Examples per micro-batch (length-bucketed, padded only to the batch's longest)",
                        min=1, max=4096)
    grad_accum: int = f(1, "Micro-batches accumulated per optimizer step", min=1, max=1024)
    schedule: str = f("budget-triangle", "Learning-rate schedule. budget-*: driven by elapsed/budget so it ends "
                      "exactly with the time budget (budget-wsd: warm-up, peak, decay over the last train.decay); "
                      "linear: step-based warm-up then linear decay to max_steps (the original recipe); constant",
                      choices=["budget-triangle", "budget-linear", "budget-wsd", "constant", "linear"])
    warmup: float = f(0.05, "Warm-up as a fraction of the budget (budget-linear, budget-wsd) or of max_steps "
                      "(linear)", min=0.0, max=0.9)
    decay: float = f(WSD_DECAY, "budget-wsd: the LR decays over this last fraction of the budget", min=0.0, max=1.0)
    lr_floor: float = f(WSD_FLOOR, "budget-wsd: the LR at the end of the budget, as a fraction of the peak",
                        min=0.0, max=1.0)
    weight_decay: float = f(0.01, "AdamW weight decay (not applied to biases and norms)", min=0.0, max=1.0)
    adam_beta2: float = f(0.98, "AdamW beta2 (the original code2nl recipe: 0.999)", min=0.5, max=0.99999)
    decoder_lr: float = f(0.0, "Peak learning rate of the fresh decoder of the encoder recipe (0 = train.lr); "
                          "follows the same schedule", min=0.0, max=1.0)
    grad_clip: float = f(1.0, "Clip the gradient norm to this value (0 = off)", min=0.0, max=1000.0)
    label_smoothing: float = f(0.0, "Label smoothing of the training cross-entropy", min=0.0, max=0.5)
    seed: int = f(42, "Random seed (data order, initialisation, dropout)", min=0, max=2**31 - 1)


@dataclass
class BudgetConfig:
    seconds: float = f(120.0, "Wall-clock training budget; dev evaluation pauses are excluded and reported "
                       "separately", min=1.0, max=30 * 24 * 3600.0, unit="s")
    max_steps: int = f(0, "Also stop after this many optimizer steps (0 = only the time budget)", min=0)
    max_epochs: float = f(0.0, "Also stop after this many passes over the training data (0 = unlimited)", min=0.0)


@dataclass
class EvalConfig:
    beam_size: int = f(10, "Beam size for generation (1 = greedy)", min=1, max=64)
    batch_size: int = f(32, "Examples decoded together", min=1, max=4096)
    every_seconds: float = f(60.0, "Dev evaluation every this many seconds of training (0 = only at the end)",
                             min=0.0, unit="s")
    dev_subset: int = f(200, "Dev examples (per language) decoded for dev BLEU at each dev evaluation",
                        min=1, max=100000)
    dev_seed: int = f(0, "Seed of the dev subset: the same seeded random eval.dev_subset examples at every dev "
                      "evaluation, across resumes and across runs on the same data", min=0, max=2**31 - 1)
    dev_beam_size: int = f(1, "Beam size for dev BLEU during training (1 = greedy); eval.beam_size decodes the "
                           "final evaluation", min=1, max=64)
    no_repeat_ngram: int = f(0, "Decoding (dev and test): never repeat an n-gram of this many tokens within one "
                             "summary (0 = off, as the CodeXGLUE recipe decodes); 3 stops the loops a small model "
                             "writes ('the file of the file of the')", min=0, max=16)
    dev_tie_bleu: float = f(0.3, "Dev BLEU differences up to this many points count as noise: within them the "
                            "lower dev loss picks the best checkpoint", min=0.0, max=100.0)
    samples: int = f(20, "Test samples per language kept for inspection (code, reference, prediction)",
                     min=0, max=10000)
    split: str = f("test", "Split evaluated at the end of training", choices=["test", "valid"])
    checkpoint_minutes: float = f(5.0, "Write the 'last' checkpoint every this many minutes of training",
                                  min=0.1, unit="min")


@dataclass
class HardwareConfig:
    device: str = f("auto", "auto = CUDA when available, else CPU", choices=["auto", "cpu", "cuda"])
    gpus: int = f(1, "Number of GPUs, one process each (more than 1 launches through torchrun with DDP; on a "
                  "CPU-only machine the ranks are CPU processes using gloo)", min=1, max=64)
    precision: str = f("auto", "auto = bf16 autocast on CUDA when supported, else fp32",
                       choices=["auto", "bf16", "fp16", "fp32"])
    compile: bool = f(False, "torch.compile the model (slower start, faster steps on GPU)")
    threads: int = f(0, "CPU threads for torch (0 = automatic: all cores, passive waiting)", min=0, max=512)


@dataclass
class LogConfig:
    tensorboard: bool = f(False, "Also write TensorBoard event files (RUN_DIR/tensorboard/) while training "
                          "(needs the tensorboard extra)")


@dataclass
class RunConfig:
    name: str = f("", "Run name (default: derived from the preset and the time)")
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    log: LogConfig = field(default_factory=LogConfig)

    # -- conversion -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        cfg = cls()
        apply_dict(cfg, d)
        return cfg

    def copy(self) -> RunConfig:
        return copy.deepcopy(self)


SECTIONS = ("model", "data", "train", "budget", "eval", "hardware", "log")


def field_specs() -> list[dict]:
    """Every settable field as a plain dict: name (dotted), section, key, type, default, help, choices, min, max,
    unit. The console builds its form from this list."""
    out = []
    default = RunConfig()
    for sec in ("",) + SECTIONS:
        obj = default if not sec else getattr(default, sec)
        for fl in fields(obj):
            if not sec and fl.name in SECTIONS:
                continue
            value = getattr(obj, fl.name)
            out.append({
                "name": f"{sec}.{fl.name}" if sec else fl.name,
                "section": sec or "run",
                "key": fl.name,
                "type": _type_name(value),
                "default": value,
                **fl.metadata,
            })
    return out


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    return "str"


def _spec(name: str) -> dict:
    for s in field_specs():
        if s["name"] == name:
            return s
    known = ", ".join(s["name"] for s in field_specs())
    raise ConfigError(name, f"unknown setting. Known settings: {known}")


def coerce(name: str, value: Any) -> Any:
    """Convert a value (often a string from the command line or a form) to the field's type."""
    spec = _spec(name)
    t = spec["type"]
    try:
        if isinstance(value, str) and t in ("bool", "int", "float") and not value.isascii():
            raise ValueError  # float("１２") is 12.0 in Python: full-width digits are not numbers here
        if t == "bool":
            if isinstance(value, str):
                v = value.strip().lower()
                if v in ("1", "true", "yes", "on"):
                    return True
                if v in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, bool):
                return value
            raise ValueError
        if isinstance(value, bool) or isinstance(value, (dict, list)) and t != "list":
            raise ValueError  # TOML true is no number, a table is no text
        if t == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if isinstance(value, str):
                value = value.strip().replace("_", "")
                fv = float(value)
                if not fv.is_integer():
                    raise ValueError
                return int(fv)
            return int(value)
        if t == "float":
            return float(value)
        if t == "list":
            if isinstance(value, str):
                return [x.strip() for x in value.split(",") if x.strip()]
            if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
                raise ValueError
            return [str(x) for x in value]
        return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(name, f"expected {'a whole number' if t == 'int' else 'a ' + t}, got {value!r}") from None


def get_value(cfg: RunConfig, name: str) -> Any:
    obj = cfg
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def set_value(cfg: RunConfig, name: str, value: Any) -> None:
    value = coerce(name, value)
    parts = name.split(".")
    obj = cfg
    for part in parts[:-1]:
        obj = getattr(obj, part)
    setattr(obj, parts[-1], value)


def apply_dict(cfg: RunConfig, d: dict, prefix: str = "") -> None:
    if not isinstance(d, dict):
        raise ConfigError(prefix.rstrip(".") or "config", f"expected a table of settings, got {type(d).__name__}")
    for k, v in d.items():
        name = f"{prefix}{k}"
        if k in SECTIONS and not prefix:
            if not isinstance(v, dict):
                raise ConfigError(k, f"expected a table of {k} settings ([{k}]), got {v!r}")
            apply_dict(cfg, v, prefix=f"{k}.")
        else:
            set_value(cfg, name, v)


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> None:
    """Apply `section.key=value` strings (the CLI's --set)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(item, "expected section.key=value, e.g. train.lr=1e-4")
        k, v = item.split("=", 1)
        set_value(cfg, k.strip(), v)


def validate_field(name: str, value: Any) -> str | None:
    """Return None when `value` is allowed for `name`, else the message to show."""
    spec = _spec(name)
    try:
        value = coerce(name, value)
    except ConfigError as e:
        return e.message
    if spec["choices"] and value not in spec["choices"]:
        return f"{value!r} is not allowed; choose one of {', '.join(spec['choices'])}"
    if spec["type"] in ("int", "float"):
        if value != value:  # NaN
            return "must be a number"
        lo, hi = spec["min"], spec["max"]
        if lo is not None and value < lo:
            return f"{value} is below the minimum {lo}" + (f" (allowed {lo}..{hi})" if hi is not None else "")
        if hi is not None and value > hi:
            return f"{value} is above the maximum {hi}" + (f" (allowed {lo}..{hi})" if lo is not None else "")
    if name == "data.languages":
        if not value:
            return "choose at least one language"
        bad = [x for x in value if x not in LANGUAGES]
        if bad:
            return f"unknown language {', '.join(bad)}; choose from {', '.join(LANGUAGES)}"
    return None


def validate(cfg: RunConfig) -> list[ConfigError]:
    """All problems of a config, field checks first, then checks that involve several fields."""
    errors = []
    for spec in field_specs():
        msg = validate_field(spec["name"], get_value(cfg, spec["name"]))
        if msg:
            errors.append(ConfigError(spec["name"], msg))
    if cfg.model.source in ("encoder", "seq2seq") and not cfg.model.name_or_path.strip():
        errors.append(ConfigError("model.name_or_path", f"model.source={cfg.model.source} needs a hub id or a "
                                  "local folder (e.g. microsoft/codebert-base)"))
    if cfg.data.source == "codexglue":
        if not cfg.data.path.strip():
            errors.append(ConfigError("data.path", "data.source=codexglue needs the CodeXGLUE folder "
                                      "(DIR/{lang}/{train,valid,test}.jsonl)"))
        elif not Path(cfg.data.path).expanduser().is_dir():
            errors.append(ConfigError("data.path", f"folder {cfg.data.path!r} does not exist"))
    if cfg.hardware.device == "cpu" and cfg.hardware.precision == "fp16":
        errors.append(ConfigError("hardware.precision", "fp16 needs CUDA (its loss scaling runs on the GPU); use "
                                  "bf16, fp32 or auto on a CPU"))
    if cfg.data.source == "builtin" and cfg.data.languages != ["python"]:
        errors.append(ConfigError("data.languages", "the built-in corpus has Python only; set data.languages="
                                  "python or use data.source=codexglue"))
    if cfg.data.builtin_train and cfg.data.source != "codexglue":
        errors.append(ConfigError("data.builtin_train", "is for data.source=codexglue; the built-in corpus trains "
                                  "on site-packages with data.site_packages_train = true"))
    if cfg.train.schedule == "linear" and cfg.budget.max_steps <= 0 and cfg.budget.max_epochs <= 0:
        errors.append(ConfigError("train.schedule", "the step-based 'linear' schedule needs budget.max_steps > 0 "
                                  "or budget.max_epochs > 0; use budget-linear for a time-budgeted run"))
    return errors


def check(cfg: RunConfig) -> None:
    errors = validate(cfg)
    if errors:
        raise errors[0]


# -- files ----------------------------------------------------------------------------------------------------
def load(path: str | os.PathLike) -> RunConfig:
    """Load a config from a .toml or .json file (sections as tables / objects)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("config", f"file {str(p)!r} not found")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError("config", f"{p}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except OSError as e:
        raise ConfigError("config", f"{p}: cannot read: {e.strerror or e}") from None
    try:
        d = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError("config", f"{p}: cannot parse: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError("config", f"{p}: the top level must be a table of settings (an object in JSON), "
                          f"not a {type(d).__name__}")
    return RunConfig.from_dict(d)


def dumps_toml(cfg: RunConfig) -> str:
    """The config as TOML (top-level keys first, then one table per section), written by tomli-w."""
    d = cfg.to_dict()
    top = {k: v for k, v in d.items() if k not in SECTIONS}
    return tomli_w.dumps({**top, **{sec: d[sec] for sec in SECTIONS}})


def save(cfg: RunConfig, path: str | os.PathLike) -> None:
    p = Path(path)
    text = json.dumps(cfg.to_dict(), indent=2) if p.suffix == ".json" else dumps_toml(cfg)
    atomic_write_text(p, text)  # a temp file of its own: two writers never rename each other's


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in PRESETS_DIR.iterdir() if p.name.endswith(".toml"))


def preset(name: str) -> RunConfig:
    p = PRESETS_DIR / f"{name}.toml"
    if not p.is_file():
        raise ConfigError("preset", f"unknown preset {name!r}; available: {', '.join(preset_names())}")
    try:
        cfg = RunConfig.from_dict(tomllib.loads(p.read_text(encoding="utf-8")))
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError("preset", f"preset {name!r}: cannot parse: {e}") from None
    if not cfg.name:
        cfg.name = name
    return cfg


def diff(a: RunConfig, b: RunConfig) -> dict[str, tuple]:
    """Fields whose values differ: {name: (a_value, b_value)}."""
    out = {}
    for spec in field_specs():
        va, vb = get_value(a, spec["name"]), get_value(b, spec["name"])
        if va != vb:
            out[spec["name"]] = (va, vb)
    return out


def to_cli_args(cfg: RunConfig, base: RunConfig | None = None) -> list[str]:
    """`--set` arguments that turn `base` (default config) into `cfg`: the console's command-line box."""
    base = base or RunConfig()
    args = []
    for name, (_, v) in diff(base, cfg).items():
        if isinstance(v, list):
            v = ",".join(v)
        elif isinstance(v, bool):
            v = "true" if v else "false"
        args += ["--set", f"{name}={v}"]
    return args
