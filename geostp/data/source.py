"""What training, forecast and benchmarks need of a window source, as one Protocol.

Implemented by the store windows (`geostp.data.windows.WindowDataset`) and the generated Moving MNIST
sequences (`geostp.data.generators.MovingMNISTSequences`); the one loader (`geostp.data.loader`) and the
training loop use only this, never `hasattr`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class WindowSource(Protocol):
    """(x, y) windows of T_in input and T_out target frames, normalised, with their statistics and order."""

    variables: list[str]  # channel order
    stats: dict[str, dict[str, Any]]  # per variable: norm_offset, norm_scale, stats_*
    init_times: np.ndarray  # time (or frame index) of each window's last input frame
    t_in: int
    t_out: int
    frame_step: int  # store time steps between consecutive frames (1 for generated sequences)
    epoch: int  # the epoch whose samples it serves (generated sources draw fresh ones per epoch)

    def __len__(self) -> int: ...

    def normalize(self, raw: Any) -> Any:
        """Physical units -> normalised (channel axis -3)."""

    def denormalize(self, x: Any) -> Any:
        """Normalised -> physical units (channel axis -3)."""

    def get_batch(self, indices: Sequence[int] | np.ndarray, whole_blocks: bool = False) -> tuple[Any, Any]:
        """Windows `indices` as a batch x (B, T_in, C, H, W), y (B, T_out, C, H, W)."""

    def batch_sampler(self, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                      num_replicas: int = 1, rank: int = 0, lanes: int = 1) -> Any:
        """The sampler (a ChunkBatchSampler) that orders this source's windows into batches per epoch."""

    def set_epoch(self, epoch: int) -> None:
        """Serve epoch `epoch`'s samples from now on."""
