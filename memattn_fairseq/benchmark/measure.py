"""Timing and memory primitives: the median and interquartile range of repeated calls after warm-up, peak memory
on CPU and GPU."""
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class Spread:
    """A timing as reported: the median and the first and third quartiles of the repeats."""

    median: float
    q1: float
    q3: float

    @classmethod
    def of(cls, samples: List[float]) -> "Spread":
        q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else samples * 3
        return cls(median, q1, q3)

    def scaled(self, factor: float) -> "Spread":
        return Spread(self.median * factor, self.q1 * factor, self.q3 * factor)

    def inverse(self, numerator: float) -> "Spread":
        """``numerator / time`` (a rate): its quartiles swap ends."""
        return Spread(numerator / self.median, numerator / self.q3, numerator / self.q1)

    def columns(self, metric: str) -> Dict[str, float]:
        """CSV columns: the metric (median), metric_q1, metric_q3."""
        return {metric: self.median, f"{metric}_q1": self.q1, f"{metric}_q3": self.q3}


def seconds_per_call(fn: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> Spread:
    """Wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls, synchronising the device."""
    for _ in range(warmup):
        fn()
    return Spread.of([seconds_of_call(fn, device) for _ in range(repeats)])


def seconds_of_call(fn: Callable[[], None], device: torch.device) -> float:
    """Wall time of one call of ``fn``, the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def _cpu_tensor_peak(fn: Callable[[], None]) -> int:
    """Peak of live CPU tensor bytes allocated during ``fn`` (net of frees), from the profiler's allocation events."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == DeviceType.CPU]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()  # negative for a free
        peak = max(peak, live)
    return peak


def peak_bytes(fn: Callable[[], None], device: torch.device) -> int:
    """Peak tensor memory of one call of ``fn`` above the memory in use before it.

    GPU: the caching allocator's peak. CPU: the same quantity, counted from the profiler's allocation and free
    events (the process's resident set would add heap fragmentation, which varies from run to run).
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    return _cpu_tensor_peak(fn)
