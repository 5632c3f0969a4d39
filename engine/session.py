"""Setup: everything a run needs before its first step, as one plain `Session`.

`setup` (training) and `setup_eval` (`cram eval`) are short compositions of the small functions below: hardware,
process group, data, tokenizer, model (+ DDP / torch.compile), encoding, optimizer. Nothing here trains.
"""
from __future__ import annotations

import dataclasses
import itertools
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
from .contract.paths import split_path
from .contract.rundir import CHECKPOINTS, CONFIG, ENV, atomic_write_json, checkpoint_dir
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
    train_repeats: list[int] | None = None  # visits per epoch of each training example (data.oversample)
    optimizer: Any = None              # None for `cram eval`
    splits: dict = field(default_factory=dict)        # {(language, split): [Example]}
    dev_sets: list[EvalSet] = field(default_factory=list)
    test_sets: list[EvalSet] = field(default_factory=list)
    steps_per_epoch: int = 1
    total_steps: int = 0               # from budget.max_steps / max_epochs (0 = time budget only)
    flops_per_token: float = 0.0
    resume_from: Path | None = None    # the checkpoint this session continues
    scaler: Any = None                 # torch.amp.GradScaler for fp16 on CUDA, else None
    skipped_updates: int = 0           # steps whose non-finite gradients were not applied (engine.step)
    skipped_in_a_row: int = 0
    checkpoint_failing: bool = False   # the latest checkpoint write failed (engine.checkpoint.write warns once)


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


def _built_first_by_rank0(dist: distributed.Dist, build: Callable):
    """`build()` (the built-in corpora) on rank 0 first, which builds what is missing once, then on the other
    ranks, which find it built."""
    if not dist.is_main:
        dist.barrier()
    out = build()
    if dist.is_main:
        dist.barrier()
    return out


def load_splits(cfg: config_lib.DataConfig, dist: distributed.Dist, emit: Callable) -> dict:
    """{(language, split): [Example]}, with a `data` event per split (and a warning for skipped lines)."""
    t0 = time.perf_counter()
    if cfg.source == "builtin":
        cache = Path(cfg.path).expanduser() if cfg.path else None
        root, extra_root = _built_first_by_rank0(dist, lambda: (
            corpus.ensure_builtin_corpus(cache, include_site_packages=cfg.site_packages),
            corpus.ensure_builtin_corpus(cache, include_site_packages=True)
            if cfg.site_packages_train and not cfg.site_packages else None))
        emit("log", level="info", message=f"built-in corpus at {root} ({time.perf_counter() - t0:.1f}s)")
    else:
        root, extra_root = Path(cfg.path).expanduser(), None
        if cfg.builtin_train:
            extra_root = _built_first_by_rank0(dist, lambda: corpus.ensure_builtin_corpus(include_site_packages=True))
            emit("log", level="info", message=f"built-in corpus at {extra_root} ({time.perf_counter() - t0:.1f}s)")
    try:
        loaded = data.load_corpus(root, cfg.languages, cfg.max_train, cfg.max_valid, cfg.max_test,
                                  max_line_bytes=cfg.max_line_bytes)
    except data.DataError as e:
        raise StopRun("data", str(e), "check data.path and data.languages; `cram data stats PATH` shows "
                      "what is usable") from None
    if extra_root is not None and cfg.source == "builtin":
        _add_site_packages_train(loaded, cfg, extra_root, emit)
    elif extra_root is not None:
        _add_builtin_train(loaded, cfg, extra_root, emit)
    splits = {}
    for (lang, split), (examples, report) in loaded.items():
        emit("data", **report.to_event())
        if report.skipped:
            emit("log", level="warning", message=f"{report.path}: skipped {report.skipped} lines "
                 f"({report.reasons}); first at lines {report.skipped_lines}")
        if cfg.split_identifiers:
            examples = [dataclasses.replace(e, source=data.split_identifiers(e.source)) for e in examples]
        if cfg.lowercase:  # the code everywhere, the summaries of the training split (references keep their case)
            examples = [dataclasses.replace(e, source=e.source.lower(),
                                            target=e.target.lower() if split == "train" else e.target)
                        for e in examples]
        splits[(lang, split)] = examples
    return splits


def _read_extra_train(root: Path, lang: str, cfg: config_lib.DataConfig, flag: str) -> tuple:
    """The training split of the built-in corpus at ROOT that data.FLAG adds, its examples marked `added`:
    (examples, report), or StopRun."""
    try:
        extra, report = data.read_split(split_path(root, lang, "train"), lang, "train",
                                        max_line_bytes=cfg.max_line_bytes)
        return [dataclasses.replace(e, added=True) for e in extra], report
    except data.DataError as e:
        raise StopRun("data", str(e), f"set data.{flag} = false, or rebuild the corpus with "
                      "`cram data build-stdlib --site-packages`") from None


def _add_site_packages_train(loaded: dict, cfg: config_lib.DataConfig, root: Path, emit: Callable) -> None:
    """data.site_packages_train: the site-packages corpus's (ROOT) training split joins the standard library's."""
    for lang in cfg.languages:
        extra, report = _read_extra_train(root, lang, cfg, "site_packages_train")
        n = data.add_training_examples(loaded, lang, extra, report, cfg.max_train)
        emit("log", level="info", message=f"site-packages corpus at {root}: {n} more training examples")


def _add_builtin_train(loaded: dict, cfg: config_lib.DataConfig, root: Path, emit: Callable) -> None:
    """data.builtin_train: the built-in corpus's (ROOT) training split joins the CodeXGLUE data's as Python
    training examples: Python's own when Python is one of data.languages (functions equal to a held-out one
    dropped), else a training-only ("python", "train") split -- dev, test and each language's floor are untouched."""
    extra, report = _read_extra_train(root, "python", cfg, "builtin_train")
    if ("python", "train") in loaded:
        n = data.add_training_examples(loaded, "python", extra, report, cfg.max_train)
    else:
        extra = extra[:cfg.max_train] if cfg.max_train > 0 else extra
        report.n = len(extra)
        loaded[("python", "train")], n = (extra, report), len(extra)
    emit("log", level="info", message=f"built-in corpus at {root}: {n} more (Python) training examples")


def make_tokenizer(cfg: config_lib.RunConfig, splits: dict, run_dir: Path, dist: distributed.Dist,
                   location: str | None = None):
    """From scratch: BPE trained on the training split by rank 0 (saved in the run), read by the other ranks; with
    data.oversample each text counts as often as an epoch visits it (`train_repeats`). Otherwise the pretrained
    model's tokenizer (from `location`, see `model_location`; default model.name_or_path)."""
    if cfg.model.source == "scratch":
        if dist.is_main:
            train = [e for (lang, split), exs in splits.items() if split == "train" for e in exs]
            repeats = train_repeats(train, cfg.data.oversample) or itertools.repeat(1)
            texts = (t for e, r in zip(train, repeats) for _ in range(r) for t in (e.source, e.target))
            tokenizer = train_bpe(texts, cfg.model.vocab_size)
            tokenizer.save_pretrained(run_dir / "tokenizer")
        dist.barrier()
        if not dist.is_main:
            tokenizer = load_tokenizer(run_dir / "tokenizer")
        return tokenizer
    try:
        return load_tokenizer(location or cfg.model.name_or_path)
    except (OSError, ValueError) as e:
        raise StopRun("config", f"cannot load tokenizer {cfg.model.name_or_path!r}: {e}",
                      "give a local model folder or a hub id reachable from here") from None


def build_model(cfg: config_lib.RunConfig, tokenizer, location: str | None = None) -> tuple[Any, dict]:
    max_pos = max(cfg.data.max_source_len, cfg.data.max_target_len) + 2
    model_cfg = dataclasses.replace(cfg.model, name_or_path=location) if location else cfg.model
    try:
        return model_lib.build(model_cfg, tokenizer, max_pos)
    except model_lib.ModelError as e:
        raise StopRun("config", str(e), "check model.name_or_path") from None


# model folders and hub ids, checked before any data is loaded
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
HUB_TIMEOUT = 3.0   # seconds the hub may take to answer before it counts as unreachable


def _model_error(message: str) -> StopRun:
    return StopRun("config", f"model.name_or_path: {message}",
                   "give a local model folder (config.json + weights + tokenizer) or a hub id reachable from here")


def _looks_like_path(name: str) -> bool:
    return (Path(name).expanduser().is_absolute() or name.startswith(("./", "../", "~", ".\\", "..\\"))
            or name.count("/") > 1 or "\\" in name)


def _hub_reachable() -> bool:
    """Whether the Hugging Face hub answers within HUB_TIMEOUT (any HTTP status counts; proxies are honoured)."""
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=HUB_TIMEOUT).close()
        return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _cached_snapshot(repo: str) -> Path | None:
    """The cached snapshot folder of hub id `repo`, None when it is not in the cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError, an invalid repo id, an unreadable cache
        return None


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("TRANSFORMERS_OFFLINE", "").upper() in ("1", "ON",
                                                                                                    "YES", "TRUE")


def check_model_folder(folder: Path, source: str, shown: str) -> None:
    """A local model folder must hold a transformers config of the right kind for model.source, and weights."""
    if not folder.is_dir():
        raise _model_error(f"{shown} is not a folder")
    if not (folder / "config.json").is_file():
        what = "is empty" if not any(folder.iterdir()) else "has no config.json"
        raise _model_error(f"folder {shown} {what} (no config.json): not a transformers model folder")
    from transformers import AutoConfig

    try:
        conf = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
    except (OSError, ValueError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise _model_error(f"folder {shown}: config.json is not a usable transformers config ({first})") from None
    kind = getattr(conf, "model_type", "?")
    if source == "seq2seq" and not conf.is_encoder_decoder:
        raise _model_error(f"folder {shown} holds a {kind} model, not an encoder-decoder; use model.source=encoder "
                           "for an encoder-only checkpoint")
    if source == "encoder" and conf.is_encoder_decoder:
        raise _model_error(f"folder {shown} holds an encoder-decoder ({kind}); use model.source=seq2seq")
    if not any((folder / w).is_file() for w in WEIGHT_FILES):
        raise _model_error(f"folder {shown} has no weights ({' or '.join(WEIGHT_FILES[::2])})")


def run_checkpoint(path: Path, shown: str) -> tuple[Path, str]:
    """A warm start from an earlier run: a cram run directory (events.jsonl + checkpoints/) given as the model
    folder stands for its usable `best` checkpoint, else its `last` one (rundir.checkpoint_dir: complete, never a
    symbolic link); a checkpoint holding symbolic links is refused (a run directory may come from anyone). Any
    other folder is returned as it is."""
    if not ((path / "events.jsonl").is_file() and (path / CHECKPOINTS).is_dir()):
        return path, shown
    folder = checkpoint_dir(path, "best") or checkpoint_dir(path, "last")
    if folder is None:
        raise _model_error(f"run {shown} has no checkpoint yet that can be used (checkpoints/best or "
                           "checkpoints/last: complete, and not a symbolic link)")
    linked = sorted(f.name for f in folder.iterdir() if f.is_symlink())
    if linked:
        raise _model_error(f"run {shown}: checkpoints/{folder.name} holds symbolic links ({', '.join(linked)}); "
                           "a run's checkpoint files must be inside it")
    return folder, f"{shown} ({folder.name} checkpoint)"


def model_location(cfg: config_lib.RunConfig) -> str | None:
    """Where the pretrained model of a fresh run loads from, checked before any data is loaded: None for
    model.source=scratch; a local folder (checked by `check_model_folder`); a hub id as given while the hub is
    reachable; the cached snapshot of a hub id while it is not (or while HF_HUB_OFFLINE is set). A hub id that can
    be neither downloaded nor found in the cache fails at once, instead of after the hub client's retries."""
    m = cfg.model
    if m.source == "scratch":
        return None
    name = m.name_or_path.strip()
    path = Path(name).expanduser()
    if path.exists() or _looks_like_path(name):
        if not path.exists():
            raise _model_error(f"folder {name} does not exist")
        path, name = run_checkpoint(path, name)
        check_model_folder(path, m.source, name)
        return str(path)
    if _offline():
        snap = _cached_snapshot(name)
        if snap is None:
            raise _model_error(f"{name!r} is not a local folder and not in the Hugging Face cache, and the hub is "
                               "offline (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set)")
        return name  # transformers reads it from the cache
    if _hub_reachable():
        return name
    snap = _cached_snapshot(name)
    if snap is None:
        from huggingface_hub import constants

        raise _model_error(f"{name!r} is not a local folder, the hub ({constants.ENDPOINT}) is not reachable from "
                           "here, and it is not in the Hugging Face cache")
    check_model_folder(snap, m.source, f"{snap} (the cached {name})")
    return str(snap)


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
    train_repeats: list[int] | None = None   # visits per epoch of each training example (data.oversample)


def dev_subset(examples: list, n: int, seed: int, language: str) -> list:
    """The dev examples a language's dev evaluations decode: a seeded random sample of `n` of them (all when there
    are no more than `n`), in file order. It depends only on the examples, `n`, `seed` (eval.dev_seed) and the
    language, never on the training seed or the process: every dev evaluation of a run, a resumed run and every
    run on the same data (sweep trials, seeds) score the same examples, and not just the first lines of the file,
    which can be one project's."""
    if n >= len(examples):
        return list(examples)
    rng = random.Random(f"cram-dev-subset:{seed}:{language}")  # str seeds hash with sha512: stable everywhere
    return [examples[i] for i in sorted(rng.sample(range(len(examples)), n))]


def encode_splits(cfg: config_lib.RunConfig, tokenizer, ids: dict, splits: dict,
                  bucket_key: Callable = default_bucket_key) -> EncodedSplits:
    """Token ids of the training split (all languages) with its bucket keys, of each language's dev subset
    (`dev_subset`), and of the split evaluated at the end (eval.split)."""
    c = cfg.data
    enc = lambda exs: encode(exs, tokenizer, c.max_source_len, c.max_target_len, ids["eos"],  # noqa: E731
                             lowercase_targets=c.lowercase)
    train = [e for (lang, split), exs in sorted(splits.items()) if split == "train" for e in exs]
    train_enc = enc(train)
    dev_sets, test_sets = [], []
    for lang in c.languages:
        dev = dev_subset(splits[(lang, "valid")], cfg.eval.dev_subset, cfg.eval.dev_seed, lang)
        dev_sets.append(EvalSet(lang, "valid", dev, enc(dev)))
        test = splits[(lang, cfg.eval.split)]
        test_sets.append(EvalSet(lang, cfg.eval.split, test, enc(test)))
    lengths = [bucket_key(s, t) for s, t in zip(train_enc.src, train_enc.tgt)]
    return EncodedSplits(train_enc, lengths, dev_sets, test_sets, train_repeats(train, c.oversample))


def train_repeats(train: list, oversample: int) -> list[int] | None:
    """data.oversample: each of the data's own training examples `oversample` times per epoch, each one another
    corpus added once; None (every example once) when nothing was added or oversample is 1."""
    if oversample <= 1 or not any(e.added for e in train):
        return None
    return [1 if e.added else oversample for e in train]


def step_counts(cfg: config_lib.RunConfig, n_batches: int, world: int = 1) -> tuple[int, int]:
    """(steps per epoch, total steps of the step-based schedule: from budget.max_steps or max_epochs, else 0).
    A step takes train.grad_accum batches on each of `world` ranks (engine.batching.BatchPlan): one rank ends an
    epoch with a partial step, several ranks drop it."""
    per_step = cfg.train.grad_accum * max(1, world)
    steps_per_epoch = max(1, math.ceil(n_batches / per_step) if world <= 1 else n_batches // per_step)
    b = cfg.budget
    total = b.max_steps or (int(math.ceil(b.max_epochs * steps_per_epoch)) if b.max_epochs else 0)
    return steps_per_epoch, total


def make_optimizer(model, cfg: config_lib.TrainConfig, hw: hardware.Hardware) -> torch.optim.Optimizer:
    """AdamW (betas 0.9 / train.adam_beta2, eps 1e-8) over engine.model.param_groups: weight decay as the model
    kind's rule, and with train.decoder_lr > 0 the fresh decoder's own parameters at lr_scale = decoder_lr / lr."""
    groups = model_lib.param_groups(model, cfg.weight_decay, cfg.decoder_lr / cfg.lr if cfg.decoder_lr > 0 else 0.0)
    kw = {"fused": True} if hw.device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.adam_beta2), eps=1e-8, **kw)


def make_scaler(hw: hardware.Hardware):
    """fp16 on CUDA trains with a loss scaler (small gradients would underflow, large ones overflow); bf16 and
    fp32 need none (fp16 autocast is not offered on CPU: engine.hardware falls back to fp32 there)."""
    if hw.device.type == "cuda" and hw.precision == "fp16":
        return torch.amp.GradScaler("cuda")
    return None


def _mean_lengths(enc: Encoded) -> tuple[float, float]:
    n = max(1, len(enc))
    return sum(map(len, enc.src)) / n, sum(map(len, enc.tgt)) / n


# ---------------------------------------------------------------------------------------------------- the setups
def setup(cfg: config_lib.RunConfig, run_dir: Path, emit: Callable, *, resume_from: Path | None = None,
          bucket_key: Callable = default_bucket_key) -> Session:
    """A training session: a fresh model, or the model and optimizer of checkpoint `resume_from`.
    `bucket_key(src_ids, tgt_ids)` orders examples into length buckets (engine.batching.bucket_key).
    What can be checked without the data is checked first: the config, the model folder or hub id (a pretrained
    model and its tokenizer load before the data), the checkpoint's state and optimizer files (weights_only)."""
    errors = config_lib.validate(cfg)
    if errors:
        raise StopRun("config", str(errors[0]), "fix the setting and start again")
    run_dir = Path(run_dir)
    blob = None
    if resume_from is not None:
        ckpt.load_state(resume_from)              # a damaged or crafted state file fails here, not after the data
        blob = ckpt.read_optimizer(resume_from)   # weights_only=True: a pickle is refused (untrusted)
        location = None
    else:
        location = model_location(cfg)
    hw = resolve_hardware(cfg)
    dist = distributed.init(hw.device.type)
    write_run_files(cfg, run_dir, hw, dist)
    seed_everything(cfg.train.seed)
    model = tokenizer = meta = None
    if resume_from is not None:
        emit("phase", phase="model", message="loading the checkpoint")
        model, tokenizer, meta = model_lib.load(resume_from)
    elif cfg.model.source != "scratch":
        emit("phase", phase="model", message=f"loading {cfg.model.name_or_path}")
        tokenizer = make_tokenizer(cfg, {}, run_dir, dist, location)
        model, meta = build_model(cfg, tokenizer, location)
    emit("phase", phase="loading_data")
    splits = load_splits(cfg.data, dist, emit)
    if model is None:  # from scratch: the tokenizer is trained on the data
        emit("phase", phase="tokenizer", message=f"BPE, {cfg.model.vocab_size} tokens")
        tokenizer = make_tokenizer(cfg, splits, run_dir, dist)
        emit("phase", phase="model", message=f"{cfg.model.size}, from scratch")
        model, meta = build_model(cfg, tokenizer)
    # saved checkpoints record this run's decoding (generation_config.json, the tokenizer's model_max_length)
    meta = {**meta, "decoding": model_lib.decoding_settings(cfg)}
    ids = model_lib.special_ids(model)
    train_model = place_model(model, hw, dist, cfg.hardware.compile)
    enc = encode_splits(cfg, tokenizer, ids, splits, bucket_key)
    if enc.train_repeats is not None:
        own = sum(r > 1 for r in enc.train_repeats)
        emit("log", level="info", message=f"data.oversample {cfg.data.oversample}: {own:,} own training examples "
             f"x{cfg.data.oversample} + {len(enc.train_repeats) - own:,} added ones once = "
             f"{sum(enc.train_repeats):,} per epoch")
    plan = BatchPlan(enc.train_lengths, cfg.train.batch_size, cfg.train.seed, cfg.train.grad_accum, dist.world,
                     repeats=enc.train_repeats)
    n_batches = len(plan.batches(0))
    if dist.enabled and n_batches < plan.per_step:
        raise StopRun("data", f"the training split has {n_batches} batches, fewer than one step of "
                      f"{dist.world} ranks x train.grad_accum {cfg.train.grad_accum} needs",
                      "use more training data, fewer GPUs, or a smaller train.batch_size / grad_accum")
    steps_per_epoch, total_steps = step_counts(cfg, n_batches, dist.world)
    optimizer = make_optimizer(model, cfg.train, hw)
    scaler = make_scaler(hw)
    if blob is not None:
        ckpt.apply_optimizer(blob, optimizer, scaler)
    elif resume_from is not None:
        emit("log", level="warning", message="checkpoint has no optimizer state: fresh AdamW moments")
    return Session(cfg=cfg, run_dir=run_dir, hw=hw, dist=dist, model=model, train_model=train_model,
                   tokenizer=tokenizer, meta=meta, ids=ids, train_enc=enc.train_enc, train_lengths=enc.train_lengths,
                   train_repeats=enc.train_repeats,
                   optimizer=optimizer, splits=splits, dev_sets=enc.dev_sets, test_sets=enc.test_sets,
                   steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                   flops_per_token=model_lib.flops_per_token(model, *_mean_lengths(enc.train_enc)),
                   resume_from=resume_from, scaler=scaler)


def setup_eval(cfg: config_lib.RunConfig, run_dir: Path, emit: Callable, folder: Path) -> Session:
    """An evaluation session (`cram eval`): the data and the model of checkpoint `folder`, no optimizer. The
    run's config is validated like a training config (it comes from the run directory: untrusted)."""
    errors = config_lib.validate(cfg)
    if errors:
        raise StopRun("config", str(errors[0]), f"fix the setting in {Path(run_dir) / CONFIG} and evaluate again")
    hw = resolve_hardware(cfg)
    dist = distributed.init(hw.device.type)
    emit("phase", phase="model", message=f"loading {Path(folder).name}")
    model, tokenizer, meta = model_lib.load(folder)
    emit("phase", phase="loading_data")
    splits = load_splits(cfg.data, dist, emit)
    ids = model_lib.special_ids(model)
    place_model(model, hw, distributed.Dist())  # no DDP: evaluation shards the examples itself
    enc = encode_splits(cfg, tokenizer, ids, splits)
    return Session(cfg=cfg, run_dir=Path(run_dir), hw=hw, dist=dist, model=model, train_model=model,
                   tokenizer=tokenizer, meta=meta, ids=ids, train_enc=enc.train_enc, train_lengths=enc.train_lengths,
                   train_repeats=enc.train_repeats,
                   splits=splits, dev_sets=enc.dev_sets, test_sets=enc.test_sets, resume_from=folder)
