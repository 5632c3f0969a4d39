"""Device, precision, CPU threads, and the device's peak FLOP/s (for MFU)."""
from __future__ import annotations

import contextlib
import os
import platform
import sys
from dataclasses import dataclass

import torch

from .contract.config import HardwareConfig

# dense bf16/fp16 tensor-core peak FLOP/s by device name fragment (no sparsity)
_PEAK_BF16 = [("H200", 989e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12), ("A10G", 125e12),
              ("RTX 4090", 165e12), ("RTX 3090", 71e12), ("V100", 125e12), ("A6000", 155e12), ("L4", 121e12)]
# fp32 matmuls run on TF32 tensor cores (resolve() allows TF32): dense TF32 peaks
_PEAK_TF32 = [("H200", 495e12), ("H100", 495e12), ("A100", 156e12), ("L40S", 183e12), ("A10G", 62.5e12),
              ("RTX 4090", 82.6e12), ("RTX 3090", 35.6e12), ("V100", 15.7e12), ("A6000", 77.4e12), ("L4", 60e12)]


@dataclass
class Hardware:
    device: torch.device
    precision: str          # bf16 | fp16 | fp32
    name: str               # human-readable device name
    threads: int
    peak_flops: float | None  # at the chosen precision, None when unknown (CPU)

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def synchronize(self) -> None:
        """Wait for queued GPU work (so a step's wall time is its real time); nothing on the CPU."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def describe(self) -> str:
        return f"{self.name} ({self.device.type}, {self.precision}, {self.threads} threads)"


def configure_threads(requested: int) -> int:
    """Set torch's CPU thread count deliberately. 0 = all cores. OMP_WAIT_POLICY=PASSIVE (set by the CLI before
    torch is imported) keeps idle threads from spinning, which made 2-thread runs 7-10x slower when another
    process shared the cores."""
    n = requested or (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def resolve(cfg: HardwareConfig) -> Hardware:
    want = cfg.device
    if want == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("hardware.device=cuda but CUDA is not available (no GPU or a CPU-only torch); "
                           "set hardware.device=auto or cpu")
    use_cuda = want == "cuda" or (want == "auto" and torch.cuda.is_available())
    threads = configure_threads(cfg.threads)
    if use_cuda:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        name = torch.cuda.get_device_name(dev)
        if cfg.precision == "auto":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            precision = cfg.precision
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        peak = _lookup(_PEAK_TF32 if precision == "fp32" else _PEAK_BF16, name)
    else:
        dev = torch.device("cpu")
        name = platform.processor() or platform.machine() or "cpu"
        # bf16 autocast on CPU is slower than fp32 on most CPUs; honour an explicit request only
        precision = "fp32" if cfg.precision in ("auto", "fp16") else cfg.precision
        peak = None
    return Hardware(device=dev, precision=precision, name=name, threads=threads, peak_flops=peak)


def _lookup(table, name: str) -> float | None:
    for frag, val in table:
        if frag in name:
            return val
    return None


def versions() -> dict:
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "transformers": transformers.__version__, "cuda": torch.version.cuda,
            "platform": platform.platform()}
