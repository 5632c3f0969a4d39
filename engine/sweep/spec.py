"""The sweep spec: a TOML file in the style of the configs, read and validated here into an
engine.sweep.plan.SweepSpec (the spec as data and the trials it plans). Pure Python (no Optuna): validation names
the field, the value and the problem, as config validation does (engine.contract.config.ConfigError).

    name = "lr-batch"

    [base]                        # the config every trial starts from
    preset = "smoke"              # or: config = "my.toml" (relative to this file)
    set = ["budget.seconds=40"]   # `--set`-style overrides

    [params]                      # what varies, by dotted config name
    "train.lr" = [1e-3, 3e-3]                               # a list: grid values (categorical for random/tpe)
    "train.batch_size" = { low = 8, high = 64, type = "int", log = true }   # a range: random / tpe only

    [objective]
    metric = "dev_bleu"           # mean dev BLEU over the languages | "dev_bleu.<language>" | "dev_loss" (minimised)
    pick = "best"                 # the trial's best dev evaluation, or its "last"

    [sampler]
    name = "grid"                 # grid | random | tpe
    seed = 0

    [pruner]
    name = "none"                 # none | successive-halving | hyperband
    min_resource = 10             # training seconds before a trial can be pruned (default: eval.every_seconds)
    reduction_factor = 3

    [budget]
    total_seconds = 240           # training seconds summed over all trials
    n_trials = 6                  # optional cap
"""
from __future__ import annotations

import itertools
import math
import os
import sys
from pathlib import Path
from typing import Any

from engine.contract import config as config_lib
from engine.contract.config import ConfigError

from .plan import Param, SweepSpec, fit_slack, format_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "successive-halving", "hyperband")
PICKS = ("best", "last")
METRICS = ("dev_bleu", "dev_loss")
MAX_VALIDATED_COMBINATIONS = 4096

_TOP_KEYS = {"name", "base", "params", "objective", "sampler", "pruner", "budget"}
_TABLE_KEYS = {
    "base": {"preset", "config", "set"},
    "objective": {"metric", "pick"},
    "sampler": {"name", "seed", "n_startup_trials"},
    "pruner": {"name", "min_resource", "max_resource", "reduction_factor"},
    "budget": {"total_seconds", "n_trials"},
}
_RANGE_KEYS = {"low", "high", "log", "type", "step"}


# -- parsing ------------------------------------------------------------------------------------------------------
def load(path: str | os.PathLike) -> SweepSpec:
    p = Path(path)
    if not p.is_file():
        raise ConfigError("sweep", f"spec file {str(p)!r} not found")
    try:
        d = tomllib.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError("sweep", f"{p}: not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("sweep", f"{p}: cannot parse: {e}") from None
    except OSError as e:
        raise ConfigError("sweep", f"{p}: cannot read: {e.strerror or e}") from None
    return parse(d, base_dir=p.resolve().parent, default_name=p.stem)


def loads(text: str, base_dir: str | os.PathLike = ".", default_name: str = "sweep") -> SweepSpec:
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("sweep", f"cannot parse: {e}") from None
    return parse(d, base_dir=Path(base_dir).resolve(), default_name=default_name)


def _table(d: dict, key: str) -> dict:
    v = d.get(key, {})
    if isinstance(v, str) and key in ("sampler", "pruner"):
        v = {"name": v}  # sampler = "tpe" is short for [sampler] name = "tpe"
    if not isinstance(v, dict):
        raise ConfigError(key, f"expected a table ([{key}]), got {v!r}")
    unknown = sorted(set(v) - _TABLE_KEYS.get(key, set(v)))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", f"unknown setting; known: {', '.join(sorted(_TABLE_KEYS[key]))}")
    return v


def _int(field_name: str, v: Any, lo: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(field_name, f"expected a whole number, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(field_name, f"{v} is below the minimum {lo}")
    return v


def _choice(field_name: str, v: Any, choices: tuple) -> str:
    if v not in choices:
        raise ConfigError(field_name, f"{v!r} is not allowed; choose one of {', '.join(choices)}")
    return v


def parse(d: dict, base_dir: Path | None = None, default_name: str = "sweep") -> SweepSpec:
    """A spec from parsed TOML, fully validated (every trial config it can produce is checked)."""
    if not isinstance(d, dict):
        raise ConfigError("sweep", "the top level must be a table")
    unknown = sorted(set(d) - _TOP_KEYS)
    if unknown:
        raise ConfigError(unknown[0], f"unknown setting; known: {', '.join(sorted(_TOP_KEYS))}")
    name = d.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("name", f"expected a non-empty text, got {name!r}")
    base = _table(d, "base")
    preset, cfg_file = base.get("preset"), base.get("config")
    if preset is not None and cfg_file is not None:
        raise ConfigError("base", "give either base.preset or base.config, not both")
    if preset is not None and (not isinstance(preset, str) or preset not in config_lib.preset_names()):
        raise ConfigError("base.preset", f"unknown preset {preset!r}; available: "
                          f"{', '.join(config_lib.preset_names())}")
    if cfg_file is not None:
        if not isinstance(cfg_file, str) or not cfg_file:
            raise ConfigError("base.config", f"expected a file name, got {cfg_file!r}")
        cfg_path = Path(cfg_file).expanduser()
        if not cfg_path.is_absolute():
            cfg_path = (base_dir or Path.cwd()) / cfg_path
        if not cfg_path.is_file():
            raise ConfigError("base.config", f"file {str(cfg_path)!r} not found")
        cfg_file = str(cfg_path.resolve())
    sets = base.get("set", [])
    if isinstance(sets, str):
        sets = [sets]
    if not isinstance(sets, list) or not all(isinstance(x, str) for x in sets):
        raise ConfigError("base.set", f"expected a list of \"section.key=value\" texts, got {sets!r}")

    objective, sampler, pruner, budget = (_table(d, k) for k in ("objective", "sampler", "pruner", "budget"))
    spec = SweepSpec(name=safe_sweep_name(name), base_preset=preset, base_config=cfg_file, base_sets=list(sets),
                     params=[], source=d)
    metric = objective.get("metric", "dev_bleu")
    if not isinstance(metric, str) or not (metric in METRICS or metric.startswith("dev_bleu.")):
        raise ConfigError("objective.metric", f"{metric!r} is not allowed; choose dev_bleu (mean over the "
                          "languages), dev_bleu.<language> or dev_loss")
    spec.metric = metric
    spec.pick = _choice("objective.pick", objective.get("pick", "best"), PICKS)
    spec.sampler = _choice("sampler.name", sampler.get("name", "grid"), SAMPLERS)
    if sampler.get("seed") is not None:
        spec.seed = _int("sampler.seed", sampler["seed"], 0)
    if sampler.get("n_startup_trials") is not None:
        spec.n_startup_trials = _int("sampler.n_startup_trials", sampler["n_startup_trials"], 0)
    spec.pruner = _choice("pruner.name", pruner.get("name", "none"), PRUNERS)
    if pruner.get("min_resource") is not None:
        spec.min_resource = _int("pruner.min_resource", pruner["min_resource"], 1)
    if pruner.get("max_resource") is not None:
        spec.max_resource = _int("pruner.max_resource", pruner["max_resource"], 1)
    spec.reduction_factor = _int("pruner.reduction_factor", pruner.get("reduction_factor", 3), 2)

    total = budget.get("total_seconds")
    if total is None:
        raise ConfigError("budget.total_seconds", "required: the training seconds summed over all trials")
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total) or total <= 0:
        raise ConfigError("budget.total_seconds", f"expected a number of seconds above 0, got {total!r}")
    spec.total_seconds = float(total)
    if budget.get("n_trials") is not None:
        spec.n_trials = _int("budget.n_trials", budget["n_trials"], 1)

    try:
        base_cfg = spec.base()
    except ConfigError as e:
        raise ConfigError(f"base.{e.field}" if not e.field.startswith("base") else e.field, e.message) from None
    errors = config_lib.validate(base_cfg)
    if errors:
        raise ConfigError(errors[0].field, f"{errors[0].message} (in the base config)")

    params = d.get("params")
    if not isinstance(params, dict) or not params:
        raise ConfigError("params", "name at least one setting to vary, e.g. \"train.lr\" = [1e-3, 3e-3]")
    specs = {s["name"]: s for s in config_lib.field_specs()}
    for pname, pv in params.items():
        spec.params.append(_param(pname, pv, specs, spec.sampler))
    if spec.metric.startswith("dev_bleu."):
        lang = spec.metric.split(".", 1)[1]
        langs = _languages(spec)
        if lang not in langs:
            raise ConfigError("objective.metric", f"{spec.metric!r}: {lang!r} is not among the trials' "
                              f"languages ({', '.join(langs)})")
    _check_trials(spec)
    if spec.pruner != "none":
        every = _values_of(spec, "eval.every_seconds", base_cfg.eval.every_seconds)
        if min(every) <= 0:
            raise ConfigError("pruner.name", f"{spec.pruner} needs periodic dev evaluations to judge trials by: set "
                              "eval.every_seconds above 0 in the base (base.set = [\"eval.every_seconds=10\"]); "
                              f"it is {format_value(min(every))}")
    smallest = spec.trial_budgets()[0]
    if spec.total_seconds + fit_slack(smallest) < smallest:
        raise ConfigError("budget.total_seconds", f"{format_value(spec.total_seconds)} s cannot fit one trial of "
                          f"{format_value(smallest)} s (budget.seconds)")
    return spec


def safe_sweep_name(name: str) -> str:
    from engine.contract.rundir import safe_name

    return safe_name(name.strip())


def _languages(spec: SweepSpec) -> list[str]:
    for p in spec.params:
        if p.name == "data.languages" and p.is_grid:
            return sorted({lang for v in p.values for lang in config_lib.coerce("data.languages", v)})
    return list(spec.base().data.languages)


def _values_of(spec: SweepSpec, name: str, default: Any) -> list:
    for p in spec.params:
        if p.name == name:
            return list(p.values) if p.is_grid else [p.low, p.high]
    return [default]


def _param(name: str, value: Any, specs: dict, sampler: str) -> Param:
    fname = f"params.{name}"
    if name not in specs or name == "name":
        close = [n for n in specs if n.split(".")[-1] == name.split(".")[-1]]
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known settings: {', '.join(specs)}"
        raise ConfigError(fname, f"{name!r} is not a config setting{hint}")
    fs = specs[name]
    if isinstance(value, list):
        if not value:
            raise ConfigError(fname, "an empty list: give at least one value")
        coerced = []
        for v in value:
            msg = config_lib.validate_field(name, v)
            if msg:
                raise ConfigError(fname, f"value {v!r}: {msg}")
            cv = config_lib.coerce(name, v)
            if cv in coerced:
                raise ConfigError(fname, f"value {v!r} is listed twice")
            coerced.append(cv)
        if fs["type"] == "list":
            coerced = [",".join(v) for v in coerced]  # a grid value must be one text for Optuna's storage
        return Param(name, values=coerced)
    if not isinstance(value, dict):
        raise ConfigError(fname, f"expected a list of values (grid) or a range {{low = .., high = ..}}, got {value!r}")
    if sampler == "grid":
        raise ConfigError(fname, "a range needs sampler random or tpe; the grid sampler takes lists of values")
    unknown = sorted(set(value) - _RANGE_KEYS)
    if unknown:
        raise ConfigError(f"{fname}.{unknown[0]}", f"unknown key; a range has {', '.join(sorted(_RANGE_KEYS))}")
    if fs["type"] not in ("int", "float"):
        raise ConfigError(fname, f"{name} is a {fs['type']} setting: give a list of values, not a range")
    kind = value.get("type", fs["type"])
    if kind not in ("int", "float"):
        raise ConfigError(f"{fname}.type", f"{kind!r} is not allowed; choose int or float")
    if fs["type"] == "int" and kind == "float":
        raise ConfigError(f"{fname}.type", f"{name} takes whole numbers: use type = \"int\"")
    p = Param(name, type=kind, log=value.get("log", False))
    if not isinstance(p.log, bool):
        raise ConfigError(f"{fname}.log", f"expected true or false, got {p.log!r}")
    for key in ("low", "high"):
        v = value.get(key)
        if v is None:
            raise ConfigError(f"{fname}.{key}", "required for a range")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{fname}.{key}", f"expected a number, got {v!r}")
        if kind == "int" and not float(v).is_integer():
            raise ConfigError(f"{fname}.{key}", f"expected a whole number for an int range, got {v!r}")
        msg = config_lib.validate_field(name, v)
        if msg:
            raise ConfigError(f"{fname}.{key}", f"{v!r}: {msg}")
        setattr(p, key, int(v) if kind == "int" else float(v))
    if not p.low < p.high:
        raise ConfigError(fname, f"low ({format_value(p.low)}) must be below high ({format_value(p.high)})")
    if p.log and p.low <= 0:
        raise ConfigError(f"{fname}.log", f"a log range needs low above 0, got {format_value(p.low)}")
    step = value.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0:
            raise ConfigError(f"{fname}.step", f"expected a number above 0, got {step!r}")
        if p.log:
            raise ConfigError(f"{fname}.step", "a log range cannot have a step (Optuna samples it continuously)")
        if kind == "int" and not float(step).is_integer():
            raise ConfigError(f"{fname}.step", f"expected a whole number for an int range, got {step!r}")
        p.step = int(step) if kind == "int" else float(step)
    return p


def _check_trials(spec: SweepSpec) -> None:
    """Every combination of the varied values (ranges: their ends) makes a valid config; the first problem
    names the combination."""
    axes = [(p.name, list(p.values) if p.is_grid else [p.low, p.high]) for p in spec.params]
    combos = itertools.product(*[vals for _, vals in axes])
    for i, combo in enumerate(combos):
        if i >= MAX_VALIDATED_COMBINATIONS:
            break
        values = dict(zip([n for n, _ in axes], combo))
        cfg = spec.trial_config(values)
        errors = config_lib.validate(cfg)
        if errors:
            where = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
            e = errors[0]
            raise ConfigError(f"params.{e.field}" if e.field in values else e.field,
                              f"{e.message} (in the trial with {where})")
