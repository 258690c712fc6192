"""Chunk-aware batch sampler: shuffled batches that read the store block by block, shardable across ranks.

Windows are grouped into blocks (contiguous runs of store chunks, read whole). Each epoch the blocks
are put in a random order and a pool of `pool_blocks` consecutive blocks slides along it one block at
a time: phase k draws from blocks k .. k+P-1, each block's windows are dealt at random over the P
phases it is part of, and each phase's windows are shuffled together. So every window comes once per
epoch, batches mix P blocks, each block is read once by a cache of P + 1 blocks (one new block per
phase, so reads are spread evenly), and memory is bounded by the pool, not by the store. torch's RandomSampler would touch a
random chunk per window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from geostp.errors import ConfigError


class ChunkBatchSampler(Sampler[list[int]]):
    """Batches of window indices, shuffled within a sliding pool of `pool_blocks` blocks, seeded per epoch.

    `block_of[i]` is the block of window i. Under DDP (`num_replicas` > 1) each rank takes its own
    contiguous share of the epoch's order (so each rank reads its own blocks); shares are padded by
    wrapping around (or, with `drop_last`, truncated) so every rank gets the same number of batches.
    `lanes` > 1 interleaves that many block-disjoint streams so that DataLoader worker k (which gets
    batches k, k+lanes, ...) reads its own blocks. Each `iter()` is the next epoch unless
    `set_epoch(e)` was called (as with torch's DistributedSampler).
    """

    def __init__(
        self,
        block_of: Sequence[int] | np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        pool_blocks: int = 8,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
        lanes: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if pool_blocks < 1:
            raise ConfigError(f"pool_blocks must be >= 1, got {pool_blocks}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ConfigError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
        if lanes < 1:
            raise ConfigError(f"lanes must be >= 1, got {lanes}")
        block_of = np.asarray(block_of, dtype=np.int64)
        self.n = len(block_of)
        if self.n == 0:
            raise ConfigError("no windows to sample")
        if drop_last and self.n < num_replicas:
            raise ConfigError(f"{self.n} windows cannot be shared by {num_replicas} ranks with drop_last")
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.pool_blocks, self.drop_last = int(pool_blocks), bool(drop_last)
        self.num_replicas, self.rank, self.lanes = int(num_replicas), int(rank), int(lanes)
        order = np.argsort(block_of, kind="stable")
        bounds = np.flatnonzero(np.diff(block_of[order])) + 1
        self._block_windows = np.split(order, bounds)  # window indices of each block, ascending
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use `epoch` for the next iteration (then continue counting from it)."""
        self.epoch = int(epoch)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        """All window indices in this epoch's order (the same on every rank)."""
        if not self.shuffle:
            return np.concatenate(self._block_windows)
        rng = np.random.default_rng([self.seed, epoch])
        nb = len(self._block_windows)
        blocks = rng.permutation(nb)
        p = min(self.pool_blocks, nb)
        phases: list[list[np.ndarray]] = [[] for _ in range(nb - p + 1)]
        for pos, b in enumerate(blocks):  # the block at `pos` is part of phases pos-p+1 .. pos (clipped)
            first, last = max(pos - p + 1, 0), min(pos, nb - p)
            parts = np.array_split(rng.permutation(self._block_windows[b]), last - first + 1)
            for k, part in zip(range(first, last + 1), parts):
                phases[k].append(part)
        return np.concatenate([rng.permutation(np.concatenate(parts)) for parts in phases])

    def _share_size(self) -> int:
        r = self.num_replicas
        return self.n // r if self.drop_last else -(-self.n // r)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches for `epoch`, in the order they are yielded."""
        order = self._epoch_order(epoch)
        share = self._share_size()
        if share * self.num_replicas > self.n:  # pad by wrapping around, as DistributedSampler does
            order = np.resize(order, share * self.num_replicas)
        mine = order[self.rank * share : (self.rank + 1) * share]
        cut = range(0, len(mine), self.batch_size)
        batches = [mine[i : i + self.batch_size] for i in cut]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.lanes == 1 or len(batches) <= 1:
            return batches
        # lane k gets a contiguous run of batches; interleave so that position j belongs to lane j % lanes
        q, rem = divmod(len(batches), self.lanes)
        sizes = [q + (k < rem) for k in range(self.lanes)]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return [batches[starts[k] + j] for j in range(max(sizes)) for k in range(self.lanes) if j < sizes[k]]

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.epoch
        self.epoch = epoch + 1
        for b in self.epoch_batches(epoch):
            yield b.tolist()  # plain ints: no numpy views kept alive by the caller

    def __len__(self) -> int:
        share = self._share_size()
        return share // self.batch_size if self.drop_last else -(-share // self.batch_size)
