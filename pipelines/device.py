"""The one device / dtype / memory policy every pipeline asks; none decides alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import psutil
import torch

Precision = Literal["auto", "fp32", "fp16", "bf16"]


@dataclass(frozen=True)
class DevicePolicy:
    """Where models run, in which dtype, and how much host RAM the model cache may use."""

    device: torch.device
    dtype: torch.dtype
    ram_budget_bytes: int
    cpu_threads: int | None = None

    @classmethod
    def detect(
        cls,
        device: str = "auto",
        precision: Precision = "auto",
        ram_budget_gb: float | None = None,
        cpu_threads: int | None = None,
    ) -> "DevicePolicy":
        """Pick CUDA when present (fp16), else CPU (fp32); budget defaults to 40% of RAM."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if precision == "auto":
            dtype = torch.float16 if dev.type == "cuda" else torch.float32
        else:
            dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        if ram_budget_gb is None:
            budget = int(psutil.virtual_memory().total * 0.4)
        else:
            budget = int(ram_budget_gb * (1 << 30))
        return cls(device=dev, dtype=dtype, ram_budget_bytes=budget, cpu_threads=cpu_threads)

    def apply_threads(self) -> None:
        """Apply the CPU thread count (tests use 1: two threads are far slower on a busy box)."""
        if self.cpu_threads:
            torch.set_num_threads(self.cpu_threads)

    @property
    def offload_device(self) -> torch.device:
        """Where cached but inactive models wait: host RAM."""
        return torch.device("cpu")

    def onnx_providers(self) -> list[str]:
        """ONNX Runtime providers: CUDA when the device is CUDA and onnxruntime-gpu offers it, else CPU."""
        import onnxruntime

        if self.device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def empty_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def memory_report() -> dict[str, Any]:
    """Host RAM and CUDA memory in A1111's ``GET /sdapi/v1/memory`` shape (bytes). The web layer
    asks here instead of importing torch; reporting never raises (a CUDA failure is reported)."""
    vm = psutil.virtual_memory()
    process = psutil.Process()
    memory: dict[str, Any] = {"ram": {"free": vm.available, "used": process.memory_info().rss, "total": vm.total}}
    try:
        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info()
            stats = torch.cuda.memory_stats()
            memory["cuda"] = {
                "system": {"free": free, "used": total - free, "total": total},
                "active": {"current": stats.get("active_bytes.all.current", 0),
                           "peak": stats.get("active_bytes.all.peak", 0)},
                "allocated": {"current": stats.get("allocated_bytes.all.current", 0),
                              "peak": stats.get("allocated_bytes.all.peak", 0)},
            }
        else:
            memory["cuda"] = {"error": "no CUDA device"}
    except Exception as exc:  # memory reporting must never fail the route
        memory["cuda"] = {"error": str(exc)}
    return memory
