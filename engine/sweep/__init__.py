"""Sweeps: many trials of `cram train` under one total training budget, driven by an Optuna study.

spec.py    the sweep spec (TOML): base config, varied parameters, objective, sampler, pruner, total budget
study.py   the Optuna side: journal storage in the sweep directory, sampler/pruner, the ask lock, trial claims
runner.py  one worker: ask or resume a trial, run it as a `cram train` subprocess, feed its dev BLEU to the pruner
report.py  reading a sweep back without Optuna: sweep.json + the trial run directories -> table / CSV
slurm.py   a job-array script whose tasks are workers of one study
cli.py     `cram sweep SPEC ...` and `cram sweep report D`
"""
