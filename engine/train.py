"""The training loop: budgeted steps, periodic dev evaluation, checkpoints, resume, events.

Read top to bottom: `run()` prepares (hardware, data, tokenizer, model, optimizer, resume), `_train()` loops
until the budget / max steps / max epochs / a stop signal, `_finish()` evaluates the best checkpoint on the
test split and writes results.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import socket
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt
from .contract import config as config_lib
from . import corpus, data, distributed, hardware
from . import model as model_lib
from .batching import bucket_batches, collate, encode
from .budget import BudgetClock
from .contract.schedule import lr_factor
from .evaluate import EvalSet, decode_and_score, dev_loss, final_evaluation, perplexity, token_loss
from .contract.events import EventWriter
from .progress import ProgressLine
from .contract.rundir import atomic_write_json, write_results, write_samples
from .tokenizer import load_tokenizer, train_bpe


class StopRun(Exception):
    """Ends a run early with an `error` event: kind, message, hint."""

    def __init__(self, kind: str, message: str, hint: str = ""):
        super().__init__(message)
        self.kind, self.message, self.hint = kind, message, hint


class Trainer:
    def __init__(self, cfg: config_lib.RunConfig, run_dir: Path, writer: EventWriter, resume: bool = False,
                 progress: ProgressLine | None = None):
        self.cfg, self.run_dir, self.writer, self.resume = cfg, Path(run_dir), writer, resume
        self.progress = progress
        self.stop_requested = False
        self.dist = distributed.Dist()
        self.state = {"step": 0, "elapsed": 0.0, "epoch": 0, "batch_in_epoch": 0, "tokens_seen": 0,
                      "best_dev_bleu": None, "eval_seconds": 0.0, "examples_seen": 0}

    def emit(self, event: str, **fields):
        ev = self.writer.emit(event, **fields)
        if self.progress:
            self.progress.on_event(ev)
        return ev

    # ---------------------------------------------------------------------------------------------- setup
    def request_stop(self, *_):
        self.stop_requested = True

    def run(self) -> int:
        return self._guarded(self._run)

    def _guarded(self, fn) -> int:
        main = int(os.environ.get("RANK", "0")) == 0
        if main:
            (self.run_dir / "worker.pid").write_text(str(os.getpid()))
        try:
            return fn()
        except StopRun as e:
            self.emit("error", kind=e.kind, message=e.message, hint=e.hint)
            self.emit("done", status="failed", stopped=False, **self._summary())
            return 2 if e.kind in ("config", "data") else 1
        except Exception as e:  # a bug or an environment problem: say it, keep the traceback on stderr
            import traceback

            traceback.print_exc(file=sys.stderr)
            self.emit("error", kind="internal", message=f"{type(e).__name__}: {e}",
                      hint="see the log (stderr) for the traceback; the last checkpoint is kept")
            self.emit("done", status="failed", stopped=False, **self._summary())
            return 1
        finally:
            if main:
                try:
                    (self.run_dir / "worker.pid").unlink()
                except OSError:
                    pass
            self.dist.close()

    def _run(self) -> int:
        cfg = self.cfg
        errors = config_lib.validate(cfg)
        if errors:
            raise StopRun("config", str(errors[0]), "fix the setting and start again")
        try:
            self.hw = hardware.resolve(cfg.hardware)
        except RuntimeError as e:
            raise StopRun("config", str(e), "set hardware.device=auto") from None
        self.dist = distributed.init(self.hw.device.type)
        if self.dist.is_main:
            atomic_write_json(self.run_dir / "config.json", cfg.to_dict())
            atomic_write_json(self.run_dir / "env.json", {
                "versions": hardware.versions(), "device": self.hw.describe(), "host": socket.gethostname(),
                "pid": os.getpid(), "argv": sys.argv, "world_size": self.dist.world})
        resume_from = ckpt.find(self.run_dir, "last") if self.resume else None
        if self.resume:
            ckpt.clean_temp(self.run_dir)
            if resume_from is None:
                self.emit("log", level="warning", message="no checkpoint to resume from: starting from step 0")
        self._seed(cfg.train.seed)
        self._load_data()
        self._setup_model(resume_from)
        self._encode()
        self._setup_optimizer(resume_from)
        self.emit("started", run_dir=str(self.run_dir), config=cfg.to_dict(), device=self.hw.describe(),
                  precision=self.hw.precision, versions=hardware.versions(),
                  n_params=model_lib.count_params(self.model), resumed=resume_from is not None,
                  step=self.state["step"], elapsed=self.state["elapsed"], budget_seconds=cfg.budget.seconds,
                  n_train=len(self.train_enc), host=socket.gethostname(), pid=os.getpid(),
                  world_size=self.dist.world,
                  schedule={"name": cfg.train.schedule, "warmup": cfg.train.warmup, "peak_lr": cfg.train.lr,
                            "total_steps": self.total_steps})
        stopped = self._train()
        if stopped:
            self.emit("done", status="stopped", stopped=True, **self._summary())
            return 0
        self._finish()
        return 0

    def _seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _load_data(self) -> None:
        cfg = self.cfg.data
        if cfg.source == "builtin":
            cache = Path(cfg.path).expanduser() if cfg.path else None
            t0 = time.perf_counter()
            if not self.dist.is_main:
                self.dist.barrier()  # rank 0 builds the corpus once
            root = corpus.ensure_builtin_corpus(cache, include_site_packages=cfg.site_packages)
            if self.dist.is_main:
                self.dist.barrier()
            self.emit("log", level="info", message=f"built-in corpus at {root} ({time.perf_counter() - t0:.1f}s)")
        else:
            root = Path(cfg.path).expanduser()
        try:
            loaded = data.load_corpus(root, cfg.languages, cfg.max_train, cfg.max_valid, cfg.max_test)
        except data.DataError as e:
            raise StopRun("data", str(e), "check data.path and data.languages; `cram data stats PATH` shows "
                          "what is usable") from None
        self.splits = {}
        for (lang, split), (examples, report) in loaded.items():
            self.emit("data", **report.to_event())
            if report.skipped:
                self.emit("log", level="warning", message=f"{report.path}: skipped {report.skipped} lines "
                          f"({report.reasons}); first at lines {report.skipped_lines}")
            self.splits[(lang, split)] = examples

    def _setup_model(self, resume_from: Path | None) -> None:
        cfg = self.cfg
        max_pos = max(cfg.data.max_source_len, cfg.data.max_target_len) + 2
        if resume_from is not None:
            self.model, self.tokenizer, self.meta = model_lib.load(resume_from)
        else:
            if cfg.model.source == "scratch":
                if self.dist.is_main:
                    texts = (t for (lang, split), exs in self.splits.items() if split == "train"
                             for e in exs for t in (e.source, e.target))
                    self.tokenizer = train_bpe(texts, cfg.model.vocab_size)
                    self.tokenizer.save_pretrained(self.run_dir / "tokenizer")
                self.dist.barrier()
                if not self.dist.is_main:
                    self.tokenizer = load_tokenizer(self.run_dir / "tokenizer")
            else:
                try:
                    self.tokenizer = load_tokenizer(cfg.model.name_or_path)
                except OSError as e:
                    raise StopRun("config", f"cannot load tokenizer {cfg.model.name_or_path!r}: {e}",
                                  "give a local model folder or a hub id reachable from here") from None
            try:
                self.model, self.meta = model_lib.build(cfg.model, self.tokenizer, max_pos)
            except model_lib.ModelError as e:
                raise StopRun("config", str(e), "check model.name_or_path") from None
        self.ids = model_lib.special_ids(self.model)
        self.model.to(self.hw.device)
        self.train_model = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            dev = [self.hw.device.index] if self.hw.device.type == "cuda" else None
            self.train_model = DDP(self.model, device_ids=dev)
        if cfg.hardware.compile:
            self.train_model = torch.compile(self.train_model)

    def _encode(self) -> None:
        c = self.cfg.data
        enc = lambda exs: encode(exs, self.tokenizer, c.max_source_len, c.max_target_len, self.ids["eos"])
        train = [e for (lang, split), exs in sorted(self.splits.items()) if split == "train" for e in exs]
        self.train_enc = enc(train)
        # bucket key: source length in steps of 16, then target length, so both sides pad little (sorting by the
        # sum left target padding efficiency at 0.33 on the built-in corpus; this key computes 7 % fewer tokens)
        self.train_lengths = [(len(s) // 16, len(t)) for s, t in zip(self.train_enc.src, self.train_enc.tgt)]
        self.dev_sets, self.test_sets = [], []
        final_split = {"test": "test", "valid": "valid"}[self.cfg.eval.split]
        for lang in self.cfg.data.languages:
            dev = self.splits[(lang, "valid")][: self.cfg.eval.dev_subset]
            self.dev_sets.append(EvalSet(lang, "valid", dev, enc(dev)))
            test = self.splits[(lang, final_split)]
            self.test_sets.append(EvalSet(lang, final_split, test, enc(test)))
        bs = self.cfg.train.batch_size * self.cfg.train.grad_accum
        self.steps_per_epoch = max(1, math.ceil(len(self.train_enc) / bs))
        b = self.cfg.budget
        self.total_steps = b.max_steps or (int(math.ceil(b.max_epochs * self.steps_per_epoch)) if b.max_epochs
                                           else 0)
        n_src = sum(map(len, self.train_enc.src)) / max(1, len(self.train_enc))
        n_tgt = sum(map(len, self.train_enc.tgt)) / max(1, len(self.train_enc))
        self.flops_per_token = model_lib.flops_per_token(self.model, n_src, n_tgt)

    def _setup_optimizer(self, resume_from: Path | None) -> None:
        decay, no_decay = [], []
        seen = set()
        for name, p in self.model.named_parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.cfg.train.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        kw = {"fused": True} if self.hw.device.type == "cuda" else {}
        self.optimizer = torch.optim.AdamW(groups, lr=self.cfg.train.lr, betas=(0.9, 0.98), eps=1e-8, **kw)
        if resume_from is not None:
            self.state.update(ckpt.load_state(resume_from))
            if not ckpt.load_optimizer(resume_from, self.optimizer):
                self.emit("log", level="warning", message="checkpoint has no optimizer state: fresh AdamW moments")
            self.emit("log", level="info", message=f"resumed from {resume_from} at step {self.state['step']}, "
                      f"{self.state['elapsed']:.1f}s of {self.cfg.budget.seconds:.0f}s")

    # ---------------------------------------------------------------------------------------------- loop
    def _lr(self, progress: float) -> float:
        t = self.cfg.train
        return t.lr * lr_factor(t.schedule, progress, self.state["step"], self.total_steps, t.warmup)

    def _done_by_limits(self, clock: BudgetClock, step_seconds: float) -> bool:
        b, st = self.cfg.budget, self.state
        if b.max_steps and st["step"] >= b.max_steps:
            return True
        if b.max_epochs and st["epoch"] >= b.max_epochs:
            return True
        return clock.should_stop(step_seconds)

    def _train(self) -> bool:
        """Returns True when stopped by a signal (checkpoint written), False when a limit was reached."""
        cfg, st = self.cfg, self.state
        clock = BudgetClock(cfg.budget.seconds, st["elapsed"])
        self.clock = clock
        next_eval = (st["elapsed"] // cfg.eval.every_seconds + 1) * cfg.eval.every_seconds \
            if cfg.eval.every_seconds > 0 else math.inf
        ckpt_every = cfg.eval.checkpoint_minutes * 60
        next_ckpt = st["elapsed"] + ckpt_every
        step_seconds, last_emit, emit_elapsed = 0.0, 0.0, st["elapsed"]
        sec_per_token = 0.0  # EMA of step seconds per padded token: predicts the next (uneven) step
        agg = {"loss": 0.0, "tokens": 0, "n": 0, "examples": 0}
        accum = cfg.train.grad_accum
        self.model.train()
        clock.start()
        batches, batches_epoch = None, None
        per_step = accum * self.dist.world  # batches consumed by one optimizer step, all ranks together
        limit = self.dist.any([self._done_by_limits(clock, 0.0)], self.hw.device)[0]
        while not limit:
            if batches_epoch != st["epoch"]:
                batches = bucket_batches(self.train_lengths, cfg.train.batch_size, cfg.train.seed, st["epoch"])
                batches_epoch = st["epoch"]
            remaining = len(batches) - st["batch_in_epoch"]
            if remaining <= 0 or (self.dist.enabled and remaining < per_step):
                st["epoch"] += 1  # several ranks: the epoch's last partial step is dropped so ranks stay in step
                st["batch_in_epoch"] = 0
                if cfg.budget.max_epochs and st["epoch"] >= cfg.budget.max_epochs:
                    break
                continue
            t0 = time.perf_counter()
            group = batches[st["batch_in_epoch"]: st["batch_in_epoch"] + per_step]
            mine = group[self.dist.rank * accum: (self.dist.rank + 1) * accum]
            loss_sum, n_tok, tokens = self._step(mine, clock.progress)
            st["batch_in_epoch"] += len(group)
            st["step"] += 1
            st["tokens_seen"] += tokens
            st["examples_seen"] += sum(map(len, group))
            if self.hw.device.type == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            spt = dt / max(1, self._padded_tokens(mine))
            sec_per_token = spt if sec_per_token == 0 else 0.8 * sec_per_token + 0.2 * spt
            nxt = batches[st["batch_in_epoch"]: st["batch_in_epoch"] + per_step]
            nxt = nxt[self.dist.rank * accum: (self.dist.rank + 1) * accum]
            # the next step's time from its own batches (known in advance); the budget stop lands within half of it
            step_seconds = sec_per_token * self._padded_tokens(nxt) if nxt else dt
            st["elapsed"] = clock.elapsed
            loss = loss_sum / max(n_tok, 1)
            if not math.isfinite(loss):
                raise StopRun("nonfinite", f"training loss is {loss} at step {st['step']}",
                              "lower train.lr, set train.grad_clip, or use precision fp32/bf16 instead of fp16; "
                              "the last good checkpoint is kept")
            agg["loss"] += loss_sum
            agg["tokens"] += n_tok
            agg["n"] += tokens
            agg["examples"] += sum(map(len, group))
            now = time.perf_counter()
            if now - last_emit >= 0.1 or st["step"] <= 10:
                self._emit_step(agg, st["elapsed"] - emit_elapsed)  # training time only: evals excluded
                agg = {"loss": 0.0, "tokens": 0, "n": 0, "examples": 0}
                last_emit, emit_elapsed = now, st["elapsed"]
            # one reduction per step: every rank acts on the same decisions (rank 0's clock rules eval/checkpoint)
            main = self.dist.is_main
            stop, limit, do_eval, do_ckpt = self.dist.any(
                [self.stop_requested, self._done_by_limits(clock, step_seconds),
                 main and st["elapsed"] >= next_eval, main and st["elapsed"] >= next_ckpt], self.hw.device)
            if stop:
                self.stop_requested = True
                break
            if do_eval:
                self._dev_eval(clock)
                next_eval = (st["elapsed"] // cfg.eval.every_seconds + 1) * cfg.eval.every_seconds
            if do_ckpt:
                self._checkpoint("last", clock)
                next_ckpt = st["elapsed"] + ckpt_every
        clock.pause()
        st["elapsed"] = clock.elapsed
        if self.dist.enabled:
            print(f"cram[rank {self.dist.rank}/{self.dist.world}]: training ended at step {st['step']}",
                  file=sys.stderr, flush=True)
        if agg["n"]:
            self._emit_step(agg, st["elapsed"] - emit_elapsed)
        if self.stop_requested:
            self._checkpoint("last", clock)
            return True
        if not self._evaluated_at(st["step"]):
            self._dev_eval(clock)
        self._checkpoint("last", clock)
        return False

    def _padded_tokens(self, group: list[list[int]]) -> int:
        """Tokens a group of batches computes (each batch padded to its longest source and target)."""
        enc = self.train_enc
        return sum(len(b) * (max(len(enc.src[i]) for i in b) + max(len(enc.tgt[i]) for i in b)) for b in group)

    def _step(self, group: list[list[int]], progress: float) -> tuple[float, int, int]:
        lr = self._lr(progress)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.last_lr = lr
        n_local = sum(sum(len(self.train_enc.tgt[i]) for i in b) for b in group)
        # DDP averages gradients over ranks: scale by world / global tokens so the gradient equals the
        # single-process gradient of the mean loss over every real target token of the step
        n_tok_total = int(self.dist.sum([n_local], self.hw.device)[0])
        scale = self.dist.world / max(n_tok_total, 1)
        loss_total, tokens = 0.0, 0
        try:
            for j, b in enumerate(group):
                batch = collate(self.train_enc, b, self.ids)
                sync = j == len(group) - 1 or not self.dist.enabled
                ctx = contextlib.nullcontext() if sync else self.train_model.no_sync()
                with ctx:
                    with self.hw.autocast():
                        loss, n_tok = token_loss(self.train_model, batch, self.hw.device,
                                                 self.cfg.train.label_smoothing)
                    (loss * scale).backward()
                loss_total += float(loss.detach())
                tokens += batch["n_src_tokens"] + batch["n_tgt_tokens"]
            gn = None
            if self.cfg.train.grad_clip > 0:
                gn = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip))
            self.last_grad_norm = gn
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.dist.enabled:
                loss_total, tokens = self.dist.sum([loss_total, tokens], self.hw.device)
                tokens = int(tokens)
        except torch.cuda.OutOfMemoryError:
            self.optimizer.zero_grad(set_to_none=True)
            raise StopRun("oom", "CUDA out of memory", f"lower train.batch_size (now {self.cfg.train.batch_size}) "
                          "and use train.grad_accum to keep the effective batch, or lower data.max_source_len / "
                          "max_target_len; the last checkpoint is kept") from None
        return loss_total, n_tok_total, tokens

    def _emit_step(self, agg: dict, window: float | None) -> None:
        st = self.state
        tps = agg["n"] / window if window else None
        mfu = (tps * self.flops_per_token / self.hw.peak_flops) if (tps and self.hw.peak_flops) else None
        self.emit("step", step=st["step"], elapsed=round(st["elapsed"], 3), progress=round(self.clock.progress, 5),
                  loss=agg["loss"] / max(agg["tokens"], 1), lr=self.last_lr, tokens=agg["n"],
                  tokens_per_s=round(tps, 1) if tps else None, examples=agg["examples"], epoch=st["epoch"],
                  grad_norm=getattr(self, "last_grad_norm", None), mfu=round(mfu, 4) if mfu else None)

    # ---------------------------------------------------------------------------------------------- eval
    def _evaluated_at(self, step: int) -> bool:
        return getattr(self, "_last_eval_step", None) == step

    def _dev_eval(self, clock: BudgetClock) -> None:
        with clock.paused():
            self._dev_eval_paused(clock)

    def _dev_eval_paused(self, clock: BudgetClock) -> None:
        t0 = time.perf_counter()
        cfg, st = self.cfg, self.state
        losses, bleus, n = [], [], 0
        for es in self.dev_sets:
            losses.append(dev_loss(self.model, es.enc, self.ids, cfg.eval.batch_size, self.hw.device,
                                   self.hw.autocast(), self.dist))
            sc = decode_and_score(self.model, self.tokenizer, es, self.ids, beam_size=cfg.eval.beam_size,
                                  max_len=cfg.data.max_target_len, batch_size=cfg.eval.batch_size,
                                  device=self.hw.device, autocast=self.hw.autocast(), d=self.dist)
            bleus.append(sc["bleu4"])
            n += len(es.examples)
        self.model.train()
        loss, bleu4 = float(np.mean(losses)), float(np.mean(bleus))
        best = st["best_dev_bleu"] is None or bleu4 > st["best_dev_bleu"]
        if best:
            st["best_dev_bleu"] = bleu4
        self._last_eval_step = st["step"]
        seconds = time.perf_counter() - t0
        st["eval_seconds"] += seconds
        self.emit("eval", step=st["step"], elapsed=round(st["elapsed"], 3), split="valid", dev_loss=loss,
                  dev_ppl=perplexity(loss), dev_bleu=bleu4, n=n, eval_seconds=round(seconds, 3),
                  best=best, per_language={es.language: b for es, b in zip(self.dev_sets, bleus)})
        if best:
            self._checkpoint("best", clock, with_optimizer=False)

    def _checkpoint(self, kind: str, clock: BudgetClock, with_optimizer: bool = True) -> None:
        with clock.paused():
            self.state["elapsed"] = clock.elapsed
            self._write_checkpoint(kind, with_optimizer)

    def _write_checkpoint(self, kind: str, with_optimizer: bool) -> None:
        try:
            if self.dist.is_main:  # rank 0 writes; the others wait so nobody reads a half-written folder
                path = ckpt.save(self.run_dir, kind, self.model, self.tokenizer, self.meta, dict(self.state),
                                 self.optimizer if with_optimizer else None)
                self.emit("checkpoint", kind=kind, step=self.state["step"],
                          elapsed=round(self.state["elapsed"], 3), path=str(path))
        except OSError as e:
            self.emit("error", kind="disk", message=f"cannot write the {kind} checkpoint: {e}",
                      hint="free disk space; the previous checkpoint is intact and training continues")
        finally:
            self.dist.barrier()

    def evaluate_checkpoint(self, kind: str = "best", split: str = "test", beam: int | None = None) -> int:
        """`cram eval`: load a checkpoint of this run and evaluate it (no training)."""
        def go():
            folder = ckpt.find(self.run_dir, kind) or ckpt.find(self.run_dir, "last")
            if folder is None:
                raise StopRun("config", f"{self.run_dir} has no checkpoint", "train the run first (cram train)")
            self.cfg.eval.split = split
            if beam:
                self.cfg.eval.beam_size = beam
            self.hw = hardware.resolve(self.cfg.hardware)
            self.dist = distributed.init(self.hw.device.type)
            self._load_data()
            self.model, self.tokenizer, self.meta = model_lib.load(folder)
            self.ids = model_lib.special_ids(self.model)
            self.model.to(self.hw.device)
            self.state.update(ckpt.load_state(folder))
            self._encode()
            self._finish(folder)
            return 0
        return self._guarded(go)

    def _finish(self, best: Path | None = None) -> None:
        cfg = self.cfg
        model = self.model
        if best is None and (best := ckpt.find(self.run_dir, "best")) is not None:
            model, _, _ = model_lib.load(best)
            model.to(self.hw.device)
            self.emit("log", level="info", message=f"evaluating the best dev checkpoint ({best.name}, step "
                      f"{ckpt.load_state(best)['step']})")
        rows, samples = final_evaluation(
            model, self.tokenizer, self.test_sets, self.ids, run_dir=self.run_dir, beam_size=cfg.eval.beam_size,
            max_len=cfg.data.max_target_len, batch_size=cfg.eval.batch_size, device=self.hw.device,
            autocast=self.hw.autocast(), n_samples=cfg.eval.samples, seed=cfg.train.seed, emit=self.emit,
            d=self.dist)
        if not self.dist.is_main:
            return
        write_results(self.run_dir, rows)
        write_samples(self.run_dir, samples)
        self.emit("done", status="completed", stopped=False, results={r["language"]: r["bleu4"] for r in rows},
                  **self._summary())

    def _summary(self) -> dict:
        st = self.state
        return {"step": st["step"], "elapsed": round(st["elapsed"], 3), "eval_seconds": round(st["eval_seconds"], 3),
                "best_dev_bleu": st["best_dev_bleu"], "tokens_seen": st["tokens_seen"]}


def install_signal_handlers(trainer: Trainer) -> None:
    def handler(signum, frame):
        if trainer.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        trainer.request_stop()
        print(f"cram: {signal.Signals(signum).name} received: finishing the step, then checkpoint and stop",
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
