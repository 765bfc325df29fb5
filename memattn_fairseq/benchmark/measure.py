"""Timing and memory primitives: medians over repeats after warm-up, peak memory on CPU and GPU."""
import ctypes
import statistics
import time
from typing import Callable, Dict, Optional

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls, synchronising the device."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _release_free_heap() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_bytes(fn: Callable[[], None], device: torch.device) -> Optional[int]:
    """Memory high-water mark of one call of ``fn`` above the memory in use before it.

    GPU: the caching allocator's peak. CPU: the process's peak resident set (VmHWM, reset through
    /proc/self/clear_refs) minus its resident set before the call; None where Linux does not allow the reset.
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    try:
        _release_free_heap()  # else freed blocks stay resident and later allocations never raise the high-water mark
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # resets VmHWM to the current resident set
        before = _proc_status("VmRSS")
        fn()
        return max(_proc_status("VmHWM") - before, 0)
    except OSError:
        return None


def state_bytes(incremental_state: Dict[str, Dict[str, Optional[torch.Tensor]]]) -> int:
    """Bytes of every tensor a decoder keeps between steps (KV caches, compressed memories, counters)."""
    total = 0
    for buffer in incremental_state.values():
        for tensor in (buffer or {}).values():
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()
    return total
