"""Ways to turn one model into an ensemble at forecast time (`geostp forecast --members N --ensemble METHOD`).

`seeds`: one member per independently seeded training of the run's config (geostp.forecast.seeds).

`sample`: draws of a model that samples its own output (S-HR-VQVAE: codes sampled from its PixelCNN prior at
`temperature` instead of the greedy argmax; 0 = greedy), one draw per member, seeded per block of inits.

`crps`: draws of a stochastic model trained with the CRPS (`train.objective: crps`,
geostp.models.wrappers.Stochastic): each member is one call with fresh noise (seeded per block of inits).

`perturb`: initial-condition perturbations. Each member adds one noise field to all of its input frames (the
same field at every input time, so the history stays consistent): white noise smoothed by a Gaussian of
`length_scale` grid cells (periodic in longitude on global grids, scipy.ndimage), rescaled to unit standard
deviation per field, times `amplitude`. The model sees normalised inputs, so an amplitude of 0.1 is a tenth
of each variable's train-split standard deviation (0.1 x ~14 K for t850 on the sample; documented default).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from geostp.errors import ConfigError
from geostp.models.registry import core_model
from geostp.registry import Registry


@dataclass(frozen=True)
class EnsembleSpec:
    """How many members and how they are made."""

    members: int = 1
    method: str = "perturb"
    amplitude: float = 0.1  # perturbation std in train-split standard deviations (normalised units)
    length_scale: float = 2.0  # Gaussian smoothing of the noise, in grid cells
    seed: int = 0
    temperature: float = 1.0  # sample: of the model's own sampling (0 = greedy)

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ConfigError(f"--members must be >= 1, got {self.members}")
        if self.temperature < 0:
            raise ConfigError(f"--temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.amplitude < 0 or self.length_scale < 0:
            raise ConfigError(f"perturbation amplitude and length scale must be >= 0, got {self.amplitude}, {self.length_scale}")
        ENSEMBLES.get(self.method)  # unknown methods list the known ones


# method -> (inputs (B, T, C, H, W), spec, periodic_lon, batch offset) -> inputs (B * M, T, C, H, W), member-major per init
ENSEMBLES: Registry[Callable[..., torch.Tensor]] = Registry("ensemble method")


def correlated_noise(rng: np.random.Generator, shape: tuple[int, ...], length_scale: float, periodic_lon: bool) -> np.ndarray:
    """Gaussian noise (..., H, W) smoothed over the last two axes and rescaled to unit std per field."""
    from scipy.ndimage import gaussian_filter

    noise = rng.standard_normal(shape)
    if length_scale > 0:
        sigma = [0.0] * (len(shape) - 2) + [length_scale, length_scale]
        noise = gaussian_filter(noise, sigma, mode=["nearest"] * (len(shape) - 1) + ["wrap" if periodic_lon else "nearest"])
    std = noise.std(axis=(-2, -1), keepdims=True)
    return noise / np.where(std > 0, std, 1.0)


@ENSEMBLES.register("perturb")
def perturb(x: torch.Tensor, spec: EnsembleSpec, periodic_lon: bool, offset: int) -> torch.Tensor:
    """Members of initial-condition perturbations; the noise of init `offset + b` is seeded by (seed, offset + b),
    so a forecast does not depend on how init times are batched."""
    b, t, c, h, w = x.shape
    fields = np.stack([correlated_noise(np.random.default_rng([spec.seed, offset + i]), (spec.members, c, h, w),
                                        spec.length_scale, periodic_lon) for i in range(b)])  # (B, M, C, H, W)
    noise = torch.from_numpy((spec.amplitude * fields).astype(np.float32)).to(x.device)
    out = x[:, None] + noise[:, :, None]  # (B, M, T, C, H, W): one field for every input frame
    return out.reshape(b * spec.members, t, c, h, w)


@ENSEMBLES.register("crps")
def sample(x: torch.Tensor, spec: EnsembleSpec, periodic_lon: bool, offset: int) -> torch.Tensor:
    """Members of a stochastic model: its inputs repeated, each copy drawing its own noise inside the model."""
    return x.repeat_interleave(spec.members, 0)


@ENSEMBLES.register("seeds")
def seeded(x: torch.Tensor, spec: EnsembleSpec, periodic_lon: bool, offset: int) -> torch.Tensor:
    """Members of independently seeded runs (geostp.forecast.seeds.MemberModels): the same inputs for each."""
    return x.repeat_interleave(spec.members, 0)


@ENSEMBLES.register("sample")
def sampled(x: torch.Tensor, spec: EnsembleSpec, periodic_lon: bool, offset: int) -> torch.Tensor:
    """Members of a model that samples its output (`sampling`): its inputs repeated, one draw per copy."""
    return x.repeat_interleave(spec.members, 0)


def can_sample(model: torch.nn.Module) -> bool:
    """Whether the model can draw its output instead of taking the most likely one (a `decoding` option)."""
    return hasattr(getattr(core_model(model), "config", None), "decoding")


@contextlib.contextmanager
def sampling(model: torch.nn.Module, temperature: float) -> Iterator[None]:
    """Within the block, `model` (through its wrappers) samples its output at `temperature`; restored after."""
    core = core_model(model)
    before = core.config
    core.config = dataclasses.replace(before, decoding="sample", temperature=float(temperature))
    try:
        yield
    finally:
        core.config = before


def is_stochastic(model: torch.nn.Module) -> bool:
    """Whether `model` draws noise itself (a CRPS-trained run), anywhere in its wrapper chain."""
    from geostp.models.wrappers import Stochastic, Wrapper

    while isinstance(model, Wrapper):
        if isinstance(model, Stochastic):
            return True
        model = model.inner
    return False


def choose_method(method: str, model: torch.nn.Module) -> str:
    """`auto` -> crps for a stochastic model, sample for one that samples its output (S-HR-VQVAE), perturb
    otherwise; crps on a deterministic model, sample on one that cannot sample, are refused."""
    stochastic = is_stochastic(model)
    if method == "auto":
        return "crps" if stochastic else "sample" if can_sample(model) else "perturb"
    if method == "sample" and not can_sample(model):
        raise ConfigError("--ensemble sample draws the model's own output (S-HR-VQVAE's PixelCNN codes); this model "
                          "forecasts deterministically: use --ensemble perturb, seeds or crps")
    if method == "crps" and not stochastic:
        raise ConfigError("--ensemble crps needs a run trained with train.objective crps (a stochastic model); this "
                          "run's model is deterministic: use --ensemble perturb, or train one with "
                          "--set train.objective=crps --set train.members=8")
    return method
