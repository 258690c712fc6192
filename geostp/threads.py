"""Torch CPU thread counts chosen by measurement, not by the load average.

On a busy machine a small model runs many times slower with more threads than idle cores (a descheduled
thread stalls every parallel region), on an idle one faster; the one-minute load average lags minutes
behind (it is still high right after `pip install`). So geostp times the candidates on the real work:

* `ThreadTuner` (training): steps alternate between thread counts in short probe windows (at the start,
  then every `every` steps, since the load changes; clearly slower counts are dropped after one step);
  between windows the fastest median step time wins.
* `probe_threads` (forecast): one short timing of a convolution of the forecast's size per candidate.

Both stand aside when OMP_NUM_THREADS is set (the user chose) or on a GPU.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence

import torch


def candidates(processes: int = 1) -> list[int]:
    """Thread counts worth trying: 1 and this process's share of the cores (if more)."""
    share = max(1, (os.cpu_count() or 1) // max(1, processes))
    return sorted({1, share})


def user_chose() -> bool:
    """Whether the thread count was fixed by the user (OMP_NUM_THREADS / MKL_NUM_THREADS)."""
    return bool(os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"))


class ThreadTuner:
    """Pick torch's intra-op thread count from timed training steps; call `begin(step)` / `end()` around each.

    A probe window starts `warmup` steps after `start` and every `every` steps: rounds of one step per
    candidate, up to `trials` rounds; after each round candidates over `prune` times the fastest median are
    dropped (a loaded machine makes extra threads 5-20x slower: one such step is enough to know).
    """

    def __init__(self, options: Sequence[int], trials: int = 3, every: int = 200, warmup: int = 1,
                 start: int = 0, prune: float = 1.5) -> None:
        self.options, self.trials, self.every, self.prune = list(options), trials, every, prune
        self.first = start + warmup
        self.best = torch.get_num_threads() if torch.get_num_threads() in self.options else self.options[-1]
        self.times: dict[int, list[float]] = {}
        self.history: list[tuple[int, int]] = []  # (step, chosen threads) at the end of each probe window
        self._queue: list[int] | None = None  # candidates left in this round; None outside a window
        self._rounds = 0
        self._current = self.best
        self._tick = 0.0
        self._step = 0

    @classmethod
    def for_device(cls, device: torch.device, processes: int = 1, **kw) -> ThreadTuner | None:
        """A tuner for CPU training unless the user fixed the threads or there is only one option."""
        opts = candidates(processes)
        if device.type != "cpu" or user_chose() or len(opts) < 2:
            return None
        return cls(opts, **kw)

    def begin(self, step: int) -> None:
        """Set the thread count for `step` (a candidate inside a probe window, else the best so far)."""
        self._step = step
        if self._queue is None and (step == self.first or (step > self.first and step % self.every == 0)):
            self._queue, self._rounds, self.times = list(self.options), 0, {}
        self._current = self._queue[0] if self._queue else self.best
        if torch.get_num_threads() != self._current:
            torch.set_num_threads(self._current)
        self._tick = time.perf_counter()

    def end(self) -> None:
        """Record a probed step's time; after each round prune slow candidates, after the last keep the fastest."""
        if not self._queue:
            return
        self.times.setdefault(self._queue.pop(0), []).append(time.perf_counter() - self._tick)
        if self._queue:
            return
        self._rounds += 1
        med = {n: statistics.median(v) for n, v in self.times.items()}
        fastest = min(med, key=med.get)
        alive = [n for n in self.options if med[n] <= self.prune * med[fastest]]
        if self._rounds < self.trials and len(alive) > 1:
            self._queue = alive
            return
        self.best, self._queue = fastest, None
        self.history.append((self._step + 1, self.best))
        torch.set_num_threads(self.best)


def probe_threads(fn: Callable[[], object], options: Sequence[int], trials: int = 3) -> int:
    """The candidate thread count with the lowest median time of `fn` (interleaved trials, one warm-up each)."""
    times: dict[int, list[float]] = {n: [] for n in options}
    for n in options:
        torch.set_num_threads(n)
        fn()
    for _ in range(trials):
        for n in options:
            torch.set_num_threads(n)
            tick = time.perf_counter()
            fn()
            times[n].append(time.perf_counter() - tick)
    return min(times, key=lambda n: statistics.median(times[n]))


def conv_probe(batch: int = 8, channels: int = 16, size: tuple[int, int] = (32, 64)) -> Callable[[], object]:
    """A convolution of a small model's size (the sample grid, 16 channels), run a few times per call."""
    x = torch.randn(batch, channels, *size)
    w = torch.randn(channels, channels, 3, 3)

    def run() -> None:
        with torch.no_grad():
            for _ in range(4):
                torch.nn.functional.conv2d(x, w, padding=1)

    return run
