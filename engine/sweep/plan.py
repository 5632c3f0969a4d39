"""The sweep spec as data, and the trials it plans: the varied parameters (Param), each trial's config and name,
the budgets a trial can have and how many trials the total budget allows. Pure Python (no Optuna). engine.sweep.spec
builds a SweepSpec from the TOML file and validates it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.contract import config as config_lib
from engine.contract.config import ConfigError

# a new trial starts when it fits the remaining budget; trials stop a little past their budget (the engine ends
# on the step nearest to it), so "fits" allows this much slack: 2% of the trial's budget + 0.5 s
FIT_SLACK_FRACTION = 0.02
FIT_SLACK_SECONDS = 0.5


@dataclass
class Param:
    """One varied setting: `values` (a list: grid / categorical) or a range low..high (int or float, log or
    linear, optional step)."""
    name: str
    values: list | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    type: str = "float"          # "int" | "float" (ranges)
    step: float | None = None

    @property
    def is_grid(self) -> bool:
        return self.values is not None

    def describe(self) -> str:
        if self.is_grid:
            return ", ".join(format_value(v) for v in self.values)
        text = f"{format_value(self.low)}..{format_value(self.high)} {self.type}"
        if self.log:
            text += " log"
        if self.step:
            text += f" step {format_value(self.step)}"
        return text

    def to_dict(self) -> dict:
        if self.is_grid:
            return {"name": self.name, "values": list(self.values)}
        d = {"name": self.name, "low": self.low, "high": self.high, "log": self.log, "type": self.type}
        if self.step:
            d["step"] = self.step
        return d


@dataclass
class SweepSpec:
    name: str
    base_preset: str | None
    base_config: str | None      # absolute path of the base config file
    base_sets: list[str]
    params: list[Param]
    metric: str = "dev_bleu"
    pick: str = "best"
    sampler: str = "grid"
    seed: int | None = None
    n_startup_trials: int | None = None
    pruner: str = "none"
    min_resource: int | None = None
    max_resource: int | None = None
    reduction_factor: int = 3
    total_seconds: float = 0.0
    n_trials: int | None = None
    source: dict = field(default_factory=dict)   # the TOML as parsed (written back as the sweep's spec.toml)

    # -- derived ----------------------------------------------------------------------------------------------
    @property
    def direction(self) -> str:
        return "minimize" if self.metric == "dev_loss" else "maximize"

    def base(self) -> config_lib.RunConfig:
        """The base config with the spec's overrides (not validated)."""
        if self.base_config:
            cfg = config_lib.load(self.base_config)
        elif self.base_preset:
            cfg = config_lib.preset(self.base_preset)
        else:
            cfg = config_lib.RunConfig()
        for item in self.base_sets:
            if "=" not in item:
                raise ConfigError("base.set", f"{item!r}: expected section.key=value, e.g. train.lr=1e-4")
            k, v = item.split("=", 1)
            try:
                config_lib.set_value(cfg, k.strip(), v)
            except ConfigError as e:
                raise ConfigError("base.set", f"{item!r}: {e}") from None
        return cfg

    def trial_config(self, values: dict[str, Any], number: int | None = None) -> config_lib.RunConfig:
        cfg = self.base()
        for name, v in values.items():
            config_lib.set_value(cfg, name, v)
        cfg.name = trial_name(self.name, number) if number is not None else cfg.name
        return cfg

    def grid_size(self) -> int | None:
        if self.sampler != "grid":
            return None
        return math.prod(len(p.values) for p in self.params)

    def grid(self) -> dict[str, list]:
        return {p.name: list(p.values) for p in self.params}

    def trial_budgets(self) -> list[float]:
        """The budgets a trial can have: budget.seconds of the base, or the varied values / range ends."""
        for p in self.params:
            if p.name == "budget.seconds":
                return sorted(float(v) for v in p.values) if p.is_grid else [float(p.low), float(p.high)]
        return [float(self.base().budget.seconds)]

    def planned_trials(self) -> int | None:
        """Trials the total budget (and n_trials, and the grid) allows, when every trial uses its full budget;
        None when unbounded (never: the total budget bounds it)."""
        budgets = self.trial_budgets()
        by_budget = int((self.total_seconds + FIT_SLACK_SECONDS) // budgets[0]) if budgets[0] > 0 else 0
        if self.sampler == "grid" and len(budgets) > 1:
            # grid over budget.seconds: the trials' budgets add up across the other parameters' combinations
            other = math.prod(len(p.values) for p in self.params if p.name != "budget.seconds")
            per_round = sorted(b for b in budgets for _ in range(other))
            total, by_budget = 0.0, 0
            for b in per_round:
                if total + b > self.total_seconds + fit_slack(b):
                    break
                total += b
                by_budget += 1
        counts = [by_budget]
        if self.n_trials:
            counts.append(self.n_trials)
        if self.grid_size() is not None:
            counts.append(self.grid_size())
        return min(counts)

    def to_dict(self) -> dict:
        """The spec as plain data (sweep.json carries it for the console)."""
        return {"name": self.name, "base": {"preset": self.base_preset, "config": self.base_config,
                                            "set": list(self.base_sets)},
                "params": [p.to_dict() for p in self.params],
                "objective": {"metric": self.metric, "pick": self.pick, "direction": self.direction},
                "sampler": {"name": self.sampler, "seed": self.seed},
                "pruner": {"name": self.pruner, "min_resource": self.min_resource,
                           "max_resource": self.max_resource, "reduction_factor": self.reduction_factor},
                "budget": {"total_seconds": self.total_seconds, "n_trials": self.n_trials}}


def fit_slack(trial_budget: float) -> float:
    return FIT_SLACK_FRACTION * trial_budget + FIT_SLACK_SECONDS


def trial_name(sweep_name: str, number: int) -> str:
    return f"{sweep_name}-t{number:03d}"


def format_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def param_sets(values: dict[str, Any]) -> list[str]:
    """`--set` items for a trial's values (floats with repr, so they round-trip exactly)."""
    out = []
    for k, v in values.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, float):
            v = repr(v)
        elif isinstance(v, list):
            v = ",".join(str(x) for x in v)
        out.append(f"{k}={v}")
    return out
