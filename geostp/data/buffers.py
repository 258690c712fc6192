"""Reusable batch buffers: hand out tensors over pooled arrays, reuse an array only once nobody holds it.

Why hand-written: a fresh multi-MB array per batch sits at glibc malloc's mmap threshold, and page
faults then cost more than the copy itself (measured: 2x on the in-memory loader). Reuse must never
overwrite a batch the caller still holds, so an array is reused only when its reference count shows
that no tensor (or view of one) over it is alive: `torch.from_numpy` keeps the array alive as long as
its storage lives.
"""

from __future__ import annotations

import sys

import numpy as np

# references to a pooled array when nobody else holds it: the pool's tuple + getrefcount's argument
_FREE_REFS = 2


class BufferPool:
    """Pairs of float32 arrays (n, *x_tail) and (n, *y_tail), keyed by n, reused when unreferenced."""

    def __init__(self, x_tail: tuple[int, ...], y_tail: tuple[int, ...], keep: int = 4) -> None:
        self.x_tail, self.y_tail, self.keep = tuple(x_tail), tuple(y_tail), int(keep)
        self._pools: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.allocations = 0  # how many pairs were allocated (for tests and benchmarks)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A free (x, y) pair for n windows; a new one if all pooled pairs are still held."""
        pool = self._pools.setdefault(n, [])
        for pair in pool:
            if sys.getrefcount(pair[0]) == _FREE_REFS and sys.getrefcount(pair[1]) == _FREE_REFS:
                return pair
        pair = (np.empty((n, *self.x_tail), np.float32), np.empty((n, *self.y_tail), np.float32))
        self.allocations += 1
        if len(pool) < self.keep:
            pool.append(pair)
        return pair

    def clear(self) -> None:
        """Forget every pooled pair (held ones stay valid for their holders)."""
        self._pools.clear()
