"""Multi-process training through PyTorch's own distributed engine (torchrun, DDP; NCCL on CUDA, gloo on CPU).

`cram train` with hardware.gpus = N > 1 re-launches itself under `torchrun --standalone --nproc_per_node N`.
Inside, every rank builds the same batches; each optimizer step takes world × grad_accum consecutive batches and
rank r trains on its own share, so a step sees the same examples whatever the world size. Rank 0 alone writes
events, checkpoints and results. Decisions (stop, evaluate, checkpoint) are reduced across ranks, so all ranks
stop at the same step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, values: list[float], device) -> list[float]:
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def any(self, flags: list[bool], device) -> list[bool]:
        """Element-wise OR across ranks."""
        if not self.enabled:
            return list(flags)
        t = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(x) for x in t.tolist()]

    def gather(self, obj) -> list:
        """Every rank's object, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        leave()


def init(device_type: str) -> Dist:
    """Join the process group torchrun set up (WORLD_SIZE/RANK/LOCAL_RANK), or a single-process Dist."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return Dist(rank=rank, world=world, local_rank=local)


def leave() -> None:
    """Leave the process group together (a no-op in a single process): a rank that tore down gloo while another
    still used it was seen to abort ("terminate called without an active exception") after the final evaluation."""
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        except RuntimeError:
            pass  # a peer already failed; torchrun reports it
        dist.destroy_process_group()


def shard(n: int, d: Dist) -> list[int]:
    """Indices of `n` items this rank handles (strided, so lengths stay balanced after length sorting)."""
    return list(range(d.rank, n, d.world))


def unshard(parts: list[list], n: int, world: int) -> list:
    """Inverse of `shard`: parts[r] holds items r, r+world, ...; returns the n items in order, no duplicates."""
    out = [None] * n
    for r, part in enumerate(parts):
        for j, item in enumerate(part):
            out[r + j * world] = item
    return out
