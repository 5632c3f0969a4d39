"""Setup: everything a run needs before its first step, as one plain `Session`.

`setup` (training) and `setup_eval` (`cram eval`) are short compositions of the small functions below: hardware,
process group, data, tokenizer, model (+ DDP / torch.compile), encoding, optimizer. Nothing here trains.
"""
from __future__ import annotations

import math
import os
import random
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import torch

from . import checkpoint as ckpt
from . import corpus, data, distributed, hardware
from . import model as model_lib
from .batching import BatchPlan, Encoded, bucket_key as default_bucket_key, encode
from .contract import config as config_lib
from .contract.rundir import CONFIG, ENV, atomic_write_json
from .errors import StopRun
from .evaluate import EvalSet
from .tokenizer import load_tokenizer, train_bpe


@dataclass
class Session:
    cfg: config_lib.RunConfig
    run_dir: Path
    hw: hardware.Hardware
    dist: distributed.Dist
    model: Any                         # the model itself (evaluation, checkpoints)
    train_model: Any                   # what the step calls: the model, wrapped by DDP / torch.compile
    tokenizer: Any
    meta: dict                         # model metadata saved with checkpoints
    ids: dict                          # special token ids: pad, start, eos
    train_enc: Encoded
    train_lengths: list                # bucket key per training example
    optimizer: Any = None              # None for `cram eval`
    splits: dict = field(default_factory=dict)        # {(language, split): [Example]}
    dev_sets: list[EvalSet] = field(default_factory=list)
    test_sets: list[EvalSet] = field(default_factory=list)
    steps_per_epoch: int = 1
    total_steps: int = 0               # from budget.max_steps / max_epochs (0 = time budget only)
    flops_per_token: float = 0.0
    resume_from: Path | None = None    # the checkpoint this session continues


# ---------------------------------------------------------------------------------------------------- the phases
def resolve_hardware(cfg: config_lib.RunConfig) -> hardware.Hardware:
    try:
        return hardware.resolve(cfg.hardware)
    except RuntimeError as e:
        raise StopRun("config", str(e), "set hardware.device=auto") from None


def write_run_files(cfg: config_lib.RunConfig, run_dir: Path, hw: hardware.Hardware, dist: distributed.Dist) -> None:
    if dist.is_main:
        atomic_write_json(run_dir / CONFIG, cfg.to_dict())
        atomic_write_json(run_dir / ENV, {
            "versions": hardware.versions(), "device": hw.describe(), "host": socket.gethostname(),
            "pid": os.getpid(), "argv": sys.argv, "world_size": dist.world})


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_splits(cfg: config_lib.DataConfig, dist: distributed.Dist, emit: Callable) -> dict:
    """{(language, split): [Example]}, with a `data` event per split (and a warning for skipped lines)."""
    if cfg.source == "builtin":
        cache = Path(cfg.path).expanduser() if cfg.path else None
        t0 = time.perf_counter()
        if not dist.is_main:
            dist.barrier()  # rank 0 builds the corpus once
        root = corpus.ensure_builtin_corpus(cache, include_site_packages=cfg.site_packages)
        if dist.is_main:
            dist.barrier()
        emit("log", level="info", message=f"built-in corpus at {root} ({time.perf_counter() - t0:.1f}s)")
    else:
        root = Path(cfg.path).expanduser()
    try:
        loaded = data.load_corpus(root, cfg.languages, cfg.max_train, cfg.max_valid, cfg.max_test)
    except data.DataError as e:
        raise StopRun("data", str(e), "check data.path and data.languages; `cram data stats PATH` shows "
                      "what is usable") from None
    splits = {}
    for (lang, split), (examples, report) in loaded.items():
        emit("data", **report.to_event())
        if report.skipped:
            emit("log", level="warning", message=f"{report.path}: skipped {report.skipped} lines "
                 f"({report.reasons}); first at lines {report.skipped_lines}")
        splits[(lang, split)] = examples
    return splits


def make_tokenizer(cfg: config_lib.RunConfig, splits: dict, run_dir: Path, dist: distributed.Dist):
    """From scratch: BPE trained on the training split by rank 0 (saved in the run), read by the other ranks.
    Otherwise the pretrained model's tokenizer."""
    if cfg.model.source == "scratch":
        if dist.is_main:
            texts = (t for (lang, split), exs in splits.items() if split == "train"
                     for e in exs for t in (e.source, e.target))
            tokenizer = train_bpe(texts, cfg.model.vocab_size)
            tokenizer.save_pretrained(run_dir / "tokenizer")
        dist.barrier()
        if not dist.is_main:
            tokenizer = load_tokenizer(run_dir / "tokenizer")
        return tokenizer
    try:
        return load_tokenizer(cfg.model.name_or_path)
    except OSError as e:
        raise StopRun("config", f"cannot load tokenizer {cfg.model.name_or_path!r}: {e}",
                      "give a local model folder or a hub id reachable from here") from None


def build_model(cfg: config_lib.RunConfig, tokenizer) -> tuple[Any, dict]:
    max_pos = max(cfg.data.max_source_len, cfg.data.max_target_len) + 2
    try:
        return model_lib.build(cfg.model, tokenizer, max_pos)
    except model_lib.ModelError as e:
        raise StopRun("config", str(e), "check model.name_or_path") from None


def place_model(model, hw: hardware.Hardware, dist: distributed.Dist, compile_: bool = False):
    """Move the model to the device; returns what the training step calls (DDP-wrapped with several ranks,
    torch.compile'd when asked)."""
    model.to(hw.device)
    train_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[hw.device.index] if hw.device.type == "cuda" else None)
    if compile_:
        train_model = torch.compile(train_model)
    return train_model


@dataclass
class EncodedSplits:
    train_enc: Encoded
    train_lengths: list
    dev_sets: list[EvalSet]
    test_sets: list[EvalSet]


def encode_splits(cfg: config_lib.RunConfig, tokenizer, ids: dict, splits: dict,
                  bucket_key: Callable = default_bucket_key) -> EncodedSplits:
    """Token ids of the training split (all languages) with its bucket keys, of each language's dev subset, and
    of the split evaluated at the end (eval.split)."""
    c = cfg.data
    enc = lambda exs: encode(exs, tokenizer, c.max_source_len, c.max_target_len, ids["eos"])  # noqa: E731
    train = [e for (lang, split), exs in sorted(splits.items()) if split == "train" for e in exs]
    train_enc = enc(train)
    dev_sets, test_sets = [], []
    for lang in c.languages:
        dev = splits[(lang, "valid")][: cfg.eval.dev_subset]
        dev_sets.append(EvalSet(lang, "valid", dev, enc(dev)))
        test = splits[(lang, cfg.eval.split)]
        test_sets.append(EvalSet(lang, cfg.eval.split, test, enc(test)))
    lengths = [bucket_key(s, t) for s, t in zip(train_enc.src, train_enc.tgt)]
    return EncodedSplits(train_enc, lengths, dev_sets, test_sets)


def step_counts(cfg: config_lib.RunConfig, n_train: int) -> tuple[int, int]:
    """(steps per epoch, total steps of the step-based schedule: from budget.max_steps or max_epochs, else 0)."""
    steps_per_epoch = max(1, math.ceil(n_train / (cfg.train.batch_size * cfg.train.grad_accum)))
    b = cfg.budget
    total = b.max_steps or (int(math.ceil(b.max_epochs * steps_per_epoch)) if b.max_epochs else 0)
    return steps_per_epoch, total


def make_optimizer(model, cfg: config_lib.TrainConfig, hw: hardware.Hardware) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and norms (parameters with fewer than 2 dimensions or "norm" in the name);
    tied parameters once."""
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {"fused": True} if hw.device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-8, **kw)


def _mean_lengths(enc: Encoded) -> tuple[float, float]:
    n = max(1, len(enc))
    return sum(map(len, enc.src)) / n, sum(map(len, enc.tgt)) / n


# ---------------------------------------------------------------------------------------------------- the setups
def setup(cfg: config_lib.RunConfig, run_dir: Path, emit: Callable, *, resume_from: Path | None = None,
          bucket_key: Callable = default_bucket_key) -> Session:
    """A training session: a fresh model, or the model and optimizer of checkpoint `resume_from`.
    `bucket_key(src_ids, tgt_ids)` orders examples into length buckets (engine.batching.bucket_key)."""
    errors = config_lib.validate(cfg)
    if errors:
        raise StopRun("config", str(errors[0]), "fix the setting and start again")
    run_dir = Path(run_dir)
    hw = resolve_hardware(cfg)
    dist = distributed.init(hw.device.type)
    write_run_files(cfg, run_dir, hw, dist)
    seed_everything(cfg.train.seed)
    splits = load_splits(cfg.data, dist, emit)
    if resume_from is not None:
        model, tokenizer, meta = model_lib.load(resume_from)
    else:
        tokenizer = make_tokenizer(cfg, splits, run_dir, dist)
        model, meta = build_model(cfg, tokenizer)
    ids = model_lib.special_ids(model)
    train_model = place_model(model, hw, dist, cfg.hardware.compile)
    enc = encode_splits(cfg, tokenizer, ids, splits, bucket_key)
    plan = BatchPlan(enc.train_lengths, cfg.train.batch_size, cfg.train.seed, cfg.train.grad_accum, dist.world)
    if dist.enabled and len(plan.batches(0)) < plan.per_step:
        raise StopRun("data", f"the training split has {len(plan.batches(0))} batches, fewer than one step of "
                      f"{dist.world} ranks x train.grad_accum {cfg.train.grad_accum} needs",
                      "use more training data, fewer GPUs, or a smaller train.batch_size / grad_accum")
    steps_per_epoch, total_steps = step_counts(cfg, len(enc.train_enc))
    optimizer = make_optimizer(model, cfg.train, hw)
    if resume_from is not None and not ckpt.load_optimizer(resume_from, optimizer):
        emit("log", level="warning", message="checkpoint has no optimizer state: fresh AdamW moments")
    return Session(cfg=cfg, run_dir=run_dir, hw=hw, dist=dist, model=model, train_model=train_model,
                   tokenizer=tokenizer, meta=meta, ids=ids, train_enc=enc.train_enc, train_lengths=enc.train_lengths,
                   optimizer=optimizer, splits=splits, dev_sets=enc.dev_sets, test_sets=enc.test_sets,
                   steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                   flops_per_token=model_lib.flops_per_token(model, *_mean_lengths(enc.train_enc)),
                   resume_from=resume_from)


def setup_eval(cfg: config_lib.RunConfig, run_dir: Path, emit: Callable, folder: Path) -> Session:
    """An evaluation session (`cram eval`): the data and the model of checkpoint `folder`, no optimizer."""
    hw = resolve_hardware(cfg)
    dist = distributed.init(hw.device.type)
    splits = load_splits(cfg.data, dist, emit)
    model, tokenizer, meta = model_lib.load(folder)
    ids = model_lib.special_ids(model)
    place_model(model, hw, distributed.Dist())  # no DDP: evaluation shards the examples itself
    enc = encode_splits(cfg, tokenizer, ids, splits)
    return Session(cfg=cfg, run_dir=Path(run_dir), hw=hw, dist=dist, model=model, train_model=model,
                   tokenizer=tokenizer, meta=meta, ids=ids, train_enc=enc.train_enc, train_lengths=enc.train_lengths,
                   splits=splits, dev_sets=enc.dev_sets, test_sets=enc.test_sets, resume_from=folder)
