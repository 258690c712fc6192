"""Run + store -> labelled, de-normalised prediction blocks: init-time selection, rollout.

A `Predictor` bundles a model with what it was trained on (variables, grid, frame step, T_in/T_out,
normalisation statistics). `predict_blocks` reads the input frames for blocks of init times, normalises
them with the *run's* statistics, rolls the model out to the requested number of frames (feeding
predictions back beyond T_out) and yields CF-labelled datasets in physical units, one block at a time,
so memory stays bounded by one block whatever the number of init times.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from geostp.data.anomalies import Anomalies
from geostp.data.normalize import Normalizer
from geostp.data.store import GRID_DIMS, split_names
from geostp.errors import ConfigError, DataError, ShapeError, UnknownNameError
from geostp.forecast.labels import forecast_dataset
from geostp.kinds import LATLON, kind_of
from geostp.training.contract import RunContract, check_fit
from geostp.training.contract import frame_stride as contract_frame_stride
from geostp.data.masks import apply_output_mask, store_masks
from geostp.timeaxis import (Step, add_steps, format_time, is_datetime, lead_counts, lead_label, lead_values,
                             parse_step, parse_time, step_position)
from geostp.timeaxis import fields as time_fields

if TYPE_CHECKING:  # torch is imported where a model runs: plotting and init-time parsing do without it
    import torch
    from torch import nn

    from geostp.forecast.ensemble import EnsembleSpec

DEFAULT_BATCH_SIZE = 32
# On the CPU the model runs on at most this many init times at a time, whatever the written block size: small
# batches keep the activations in the cache. Measured for the shipped vip_mixer run on the 32x64 sample, 2 cores
# (benchmarks/results/bench_forecast_batch.md): batches of 2 to 32 run at 190-235 init times/s, 64 at 91 and
# 128 at 64, so a large --batch-size costs 2-3x without this cap.
CPU_MODEL_BATCH = 8
DEFAULT_INIT_HOURS = LATLON.init_hours  # 00 and 12 UTC, as WeatherBench2's headline scores (geostp.kinds)


@dataclass
class Predictor:
    """A model plus the data signature it was trained on and its normalisation statistics."""

    model: nn.Module
    model_name: str
    variables: list[str]
    grid: dict[str, np.ndarray]  # {"lat": ..., "lon": ...} or {"y": ..., "x": ...}
    frame_step: str  # duration between frames ("6h") or a frame count ("1") for video
    t_in: int
    t_out: int
    stats: dict[str, dict[str, float]]
    run: RunContract | None = None  # the run it was loaded from (None: a model built in code)
    anomalies: Anomalies | None = None  # a run trained on anomalies: its climatology (geostp.data.anomalies)

    @property
    def grid_kind(self) -> str:
        """"latlon" or "image" (geostp.kinds)."""
        return kind_of(self.grid).name

    @property
    def run_dir(self) -> Path | None:
        """The run directory, if any."""
        return self.run.run_dir if self.run else None

    @property
    def config_hash(self) -> str:
        """Hash of the run's config.yaml ("" for a model built in code)."""
        return self.run.config_hash if self.run else ""

    @property
    def weights_hash(self) -> str:
        """Hash of the run's weights ("" for a model built in code)."""
        return self.run.weights_hash if self.run else ""

    @classmethod
    def from_run(cls, run_dir: str | Path, which: str = "best") -> Predictor:
        """Load a training run directory (weights and its RunContract) through geostp.training."""
        from geostp.training.checkpoint import load_run

        model, run = load_run(run_dir, which=which)
        return cls.from_contract(model, run)

    @classmethod
    def from_contract(cls, model: nn.Module, run: RunContract) -> Predictor:
        """A predictor for a loaded model and the contract of its run."""
        sig = run.signature
        return cls(
            model=model.eval(), model_name=run.model_name, variables=list(sig.variables),
            grid={k: np.asarray(v, dtype=np.float64) for k, v in sig.grid.items()}, frame_step=sig.step,
            t_in=int(sig.t_in), t_out=int(sig.t_out), stats={v: dict(run.stats[v]) for v in sig.variables}, run=run,
            anomalies=run.anomalies,
        )

    @classmethod
    def from_model(cls, model: nn.Module, store: xr.Dataset, variables: Sequence[str] | None = None,
                   frame_step: str | None = None, model_name: str | None = None) -> Predictor:
        """A predictor for a model built in code (baselines, tests), with the store's own statistics."""
        t_in, c, _, _ = model.config.in_shape
        variables = list(variables or store.attrs["variables"])
        if len(variables) != c:
            raise ShapeError(f"the model takes {c} channels but {len(variables)} variables were given: {variables}")
        gdims = GRID_DIMS[store.attrs["grid_kind"]]
        return cls(
            model=model.eval(), model_name=model_name or getattr(model, "model_name", type(model).__name__),
            variables=variables, grid={d: store[d].values.astype(np.float64) for d in gdims},
            frame_step=str(frame_step or store.attrs["time_step"]), t_in=int(t_in), t_out=int(model.config.t_out),
            stats={v: {k: store[v].attrs[k] for k in store[v].attrs if k.startswith(("norm_", "stats_"))}
                   for v in variables},
        )


def frame_stride(store: xr.Dataset, frame_step: str) -> int:
    """How many store time steps one model frame spans (see geostp.training.contract.frame_stride)."""
    return contract_frame_stride(str(store.attrs["time_step"]), frame_step)


def check_signature(pred: Predictor, store: xr.Dataset, source: str = "the data") -> int:
    """Whether the predictor's run fits a store (geostp.training.contract.check_fit); returns the frame stride."""
    return check_fit(pred.model_name, pred.variables, pred.grid, pred.frame_step, store, source)


# ---------------------------------------------------------------------------------- lead and init
def parse_lead(lead: str | int | None, pred: Predictor) -> int:
    """Number of model frames for a lead such as "72h", "5d", "6month", "year" or "20f"; default T_out.

    A bare number counts frames on video runs; on dated runs it needs a unit (the error suggests one).
    """
    if lead is None:
        return pred.t_out
    text = str(lead).strip()
    frame = parse_step(pred.frame_step)
    if text.isdigit() and frame.kind != "frames":
        n = int(text)
        raise DataError(f"lead {text!r} has no unit; give it in steps such as {lead_label(n, frame)} "
                        f"(frames are {frame.label} apart) or append 'f' for frames ({n}f)")
    try:
        want = parse_step(text, "lead")
    except ConfigError as exc:
        raise DataError(str(exc)) from None
    if want.kind == "frames":
        return want.n
    return want.frames_of(frame, "lead")


def lead_times(pred: Predictor, n_frames: int) -> np.ndarray:
    """Lead-time coordinate values (`geostp.timeaxis.lead_values`): timedelta64 multiples of a duration
    step; counts of months, years or frames otherwise (the coordinate's attrs say which)."""
    return lead_values(pred.frame_step, n_frames)


def _parse_time(text: str, like: np.ndarray) -> Any:
    return parse_time(text, like)


def _fmt(t: Any) -> str:
    return format_time(t)


def history_ok(times: np.ndarray, stride: int, base_step: Any, t_in: int) -> np.ndarray:
    """Mask of store positions p whose t_in input frames (p - k*stride, k < t_in) are each exactly
    k*stride time steps before p (so no input crosses a gap)."""
    n = len(times)
    ok = np.zeros(n, bool)
    first = (t_in - 1) * stride
    if n <= first:
        return ok
    t, base = step_position(times, base_step)
    p = np.arange(first, n)
    good = np.ones(len(p), bool)
    for k in range(1, t_in):
        good &= t[p] - t[p - k * stride] == k * stride * base
    ok[p] = good
    return ok


def resolve_inits(store: xr.Dataset, spec: str | Sequence[str] | None, pred: Predictor, n_frames: int,
                  stride: int) -> np.ndarray:
    """Init times for a spec: a split name (inputs and targets inside it), "all", one time, a range "A/B" or
    "A/B/STEP", or a list of these. Default (None): the test split, at 00 and 12 UTC on sub-daily data
    (WeatherBench2's init hours). Errors name the bad times and the valid range."""
    times = store["time"].values
    base = store.attrs["time_step"]
    ok = history_ok(times, stride, base, pred.t_in)
    if not ok.any():
        raise DataError(f"no time in the data has {pred.t_in} input frames {pred.frame_step} apart without a gap")
    valid_range = f"{_fmt(times[ok][0])} .. {_fmt(times[ok][-1])}"
    if spec is None:  # the test split; on sub-daily data at 00 and 12 UTC, WeatherBench2's init hours
        inits = _split_inits(store, "test", pred, n_frames, stride)
        init_hours = kind_of(store).init_hours  # the data kind's default (None: every step)
        if init_hours and is_datetime(inits) and len(inits) and parse_step(base).kind == "duration":
            hours = time_fields(inits)["hour"]
            if len(np.unique(hours)) > 2 and np.isin(hours, init_hours).any():
                inits = inits[np.isin(hours, init_hours)]
        return inits
    if isinstance(spec, str):
        spec = [spec]
    splits = split_names(store)
    out: list[np.ndarray] = []
    for item in spec:
        item = str(item).strip()
        if item in splits:
            out.append(_split_inits(store, item, pred, n_frames, stride))
        elif item == "all":
            out.append(times[ok])
        elif "/" in item:
            parts = item.split("/")
            if len(parts) not in (2, 3):
                raise DataError(f"init range {item!r} must look like START/END or START/END/STEP")
            a, b = _parse_time(parts[0], times), _parse_time(parts[1], times)
            sel = (times >= a) & (times <= b)
            step = _parse_time_step(parts[2]) if len(parts) == 3 else parse_step(pred.frame_step)
            sel &= _on_grid(times, a, step)
            if not sel.any():
                raise DataError(f"init range {item!r} contains no time of the data ({_fmt(times[0])} .. {_fmt(times[-1])}); "
                                f"init times with enough history: {valid_range}")
            short = sel & ~ok
            if short.any():
                raise DataError(
                    f"{short.sum()} init time(s) in {item!r} lack {pred.t_in} input frames {pred.frame_step} apart "
                    f"(first: {_fmt(times[short][0])}); init times with enough history: {valid_range}"
                )
            out.append(times[sel])
        else:
            t = _parse_time(item, times)
            pos = np.flatnonzero(times == t)
            if len(pos) == 0:
                raise DataError(f"init time {item} is not in the data ({_fmt(times[0])} .. {_fmt(times[-1])}, "
                                f"step {base}); init times with enough history: {valid_range}")
            if not ok[pos[0]]:
                raise DataError(f"init time {item} lacks {pred.t_in} input frames {pred.frame_step} apart before it; "
                                f"init times with enough history: {valid_range}")
            out.append(times[pos[:1]])
    inits = np.concatenate(out)
    _, first = np.unique(inits, return_index=True)
    return inits[np.sort(first)]


def _on_grid(times: np.ndarray, start: Any, step: Step) -> np.ndarray:
    """Mask of times that are start + k * step (calendar-aware)."""
    t, unit = step_position(times, step)
    t0, _ = step_position(np.asarray([start], dtype=np.asarray(times).dtype), step)
    return (t - t0[0]) % unit == 0


def _parse_time_step(text: str) -> Step:
    try:
        return parse_step(text, "init step")
    except ConfigError as exc:
        raise DataError(str(exc)) from None


def _split_inits(store: xr.Dataset, split: str, pred: Predictor, n_frames: int, stride: int) -> np.ndarray:
    """Init times whose inputs and first `min(n_frames, t_out)`..n_frames targets lie in one segment of `split`."""
    from geostp.data.windows import window_starts

    in_split = np.flatnonzero(store["split"].values == split)
    seg = store["segment"].values[in_split]
    span = (pred.t_in + n_frames - 1) * stride + 1
    starts = window_starts(seg, span)
    if len(starts) == 0:
        raise DataError(
            f"the {split} split has no stretch of {pred.t_in} input + {n_frames} lead frames ({span} time steps) "
            "without a gap; ask for a shorter --lead or give --init times explicitly"
        )
    return store["time"].values[in_split[starts + (pred.t_in - 1) * stride]]


# -------------------------------------------------------------------------------------- prediction
def resolve_device(device: str | None) -> torch.device:
    """'auto' (CUDA if present), 'cpu', 'cuda', 'cuda:1', ..."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for but CUDA is not available here; use --device cpu")
    return dev


def predict_blocks(pred: Predictor, store: xr.Dataset, inits: np.ndarray, n_frames: int, *,
                   variables: Sequence[str] | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                   device: str | None = "auto", progress: bool = True, source: str = "the data",
                   stride: int | None = None, ensemble: EnsembleSpec | None = None,
                   model_batch: int | None = None) -> Iterator[xr.Dataset]:
    """Yield labelled forecast blocks (geostp.forecast.labels: init_time, lead_time, valid_time, grid), float32
    in physical units, `batch_size` init times each; `variables` picks channels to keep (default all).
    `model_batch`: init times per model call (default: the whole block on a GPU, CPU_MODEL_BATCH on the CPU).

    Inputs are read from `store`, normalised with the run's statistics; rollout beyond T_out feeds
    predictions back as inputs (`geostp.models.rollout`). `stride`: the frame stride of an earlier fit check
    (geostp.training.contract), which is then not repeated. `ensemble` with more than one member adds a
    `member` dim made by its method (geostp.forecast.ensemble).
    """
    import torch
    from tqdm.auto import tqdm

    from geostp.forecast.ensemble import ENSEMBLES, sampling
    from geostp.models.rollout import rollout

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    if stride is None:  # callers that already checked the fit pass its stride
        stride = check_signature(pred, store, source)
    times = store["time"].values
    index = pd.Index(times)
    pos = index.get_indexer(inits)
    if (pos < 0).any():
        raise DataError(f"init time {_fmt(inits[pos < 0][0])} is not in {source}")
    dev = resolve_device(device)
    leads = lead_times(pred, n_frames)
    model = pred.model.to(dev).eval()
    if model_batch is None:
        model_batch = cpu_model_batch(model) if dev.type == "cpu" else batch_size
    norm = Normalizer.from_stats(pred.stats, pred.variables)  # the arithmetic training windows use
    arrays = [store[v].data for v in pred.variables]
    mask = store_masks(store, pred.variables)  # static mask: 0 in, 0 through rollouts, NaN out
    hook = apply_output_mask(model, mask)
    m = ensemble.members if ensemble is not None else 1
    periodic = bool(int(store.attrs.get("periodic_lon", "lon" in kind_of(pred.grid).grid_dims)))
    need_valid = pred.anomalies is not None or getattr(model, "uses_valid_times", False)  # calendar-correct (B*m, N)
    bar = tqdm(total=len(inits), desc=f"forecasting {pred.model_name}", unit="init", disable=not progress, leave=False)
    draws = contextlib.ExitStack()
    if m > 1 and ensemble.method == "sample":  # members are the model's own draws (S-HR-VQVAE's sampled codes)
        draws.enter_context(sampling(model, ensemble.temperature))
    try:
        for b0 in range(0, len(inits), batch_size):
            p = pos[b0:b0 + batch_size]
            x = _inputs(arrays, p, pred.t_in, stride, norm, pred.anomalies, times)
            if mask is not None:
                x[:, :, mask] = 0.0
            with torch.no_grad():
                xt = torch.from_numpy(x).to(dev)
                if m > 1:  # members of each init side by side in the batch
                    xt = ENSEMBLES.get(ensemble.method)(xt, ensemble, periodic, b0)
                with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                    torch.manual_seed((ensemble.seed if ensemble else 0) * 1_000_003 + b0)  # repeatable draws
                    valid = add_steps(np.repeat(inits[b0:b0 + batch_size], m)[:, None], pred.frame_step,
                                      lead_counts(leads, pred.frame_step)[None, :]) if need_valid else None
                    if getattr(model, "uses_valid_times", False):  # e.g. the climatology: a function of the valid time
                        y = model.forecast_at(xt, valid).float().cpu().numpy()
                    else:
                        per_call = model_batch * m  # whole inits: the members of an init stay in one call
                        y = torch.cat([rollout(model, xt[i:i + per_call], n_frames).float().cpu()
                                       for i in range(0, len(xt), per_call)]).numpy()
            if pred.anomalies is not None:  # anomalies + the climatology of each valid time's calendar month
                y = pred.anomalies.restore(y, pred.anomalies.group_index(valid), norm.scale)
            else:
                y = norm.denormalize(y).astype(np.float32)
            if mask is not None:
                y[..., mask] = np.nan  # masked cells: NaN in the forecast
            if m > 1:
                y = y.reshape(len(p), m, *y.shape[1:])
            yield forecast_dataset(pred, store, inits[b0:b0 + batch_size], y, leads,
                                   variables=list(variables) if variables else None, source=source,
                                   members=np.arange(m) if m > 1 else None)
            bar.update(len(p))
    finally:
        draws.close()
        bar.close()
        if hook is not None:
            hook.remove()


def cpu_model_batch(model: nn.Module) -> int:
    """Init times per model call on the CPU: the model's own `cpu_model_batch` (looked up inside its wrappers),
    else CPU_MODEL_BATCH. Sequential decoders (S-HR-VQVAE) set a large one: their per-position steps cost the
    same for 8 samples as for 32."""
    from geostp.models.registry import core_model

    return int(getattr(core_model(model), "cpu_model_batch", CPU_MODEL_BATCH))


def _inputs(arrays: list[Any], positions: np.ndarray, t_in: int, stride: int, norm: Normalizer,
            anomalies: Anomalies | None = None, times: np.ndarray | None = None) -> np.ndarray:
    """Normalised model inputs (B, T_in, C, H, W): the t_in frames `stride` apart ending at each position (minus
    the climatology of each frame's calendar month for a run on anomalies: the training windows' arithmetic)."""
    idx = positions[:, None] + np.arange(-(t_in - 1) * stride, 1, stride)[None, :]  # (B, T_in)
    uniq, inv = np.unique(idx, return_inverse=True)
    frames = np.stack([_take(a, uniq) for a in arrays], axis=1)  # (U, C, H, W), each frame read once
    x = norm.normalize(frames[inv.reshape(idx.shape)])
    if anomalies is not None:
        anomalies.subtract(x, anomalies.group_index(times[idx]))
    return x


def forecast_inputs(pred: Predictor, store: xr.Dataset, inits: np.ndarray, stride: int = 1) -> np.ndarray:
    """The normalised inputs (B, T_in, C, H, W) `predict_blocks` gives the model for `inits`."""
    pos = pd.Index(store["time"].values).get_indexer(inits)
    if (pos < 0).any():
        raise DataError(f"init time {_fmt(inits[pos < 0][0])} is not in the data")
    return _inputs([store[v].data for v in pred.variables], pos, pred.t_in, stride,
                   Normalizer.from_stats(pred.stats, pred.variables), pred.anomalies, store["time"].values)


def _take(arr: Any, positions: np.ndarray) -> np.ndarray:
    """Frames at sorted positions from a numpy or dask array (reads one contiguous slab when it can)."""
    lo, hi = int(positions[0]), int(positions[-1]) + 1
    if hi - lo <= 4 * len(positions):
        slab = np.asarray(arr[lo:hi])
        return slab[positions - lo]
    return np.asarray(arr[positions])


def predict(pred: Predictor, store: xr.Dataset, inits: np.ndarray, n_frames: int, **kw: Any) -> xr.Dataset:
    """All predictions in memory as one CF dataset (the blocks of `predict_blocks` joined)."""
    blocks = list(predict_blocks(pred, store, inits, n_frames, **kw))
    return xr.concat(blocks, dim="init_time") if len(blocks) > 1 else blocks[0]


def unknown_variable(name: str, store_vars: Sequence[str], runs: Sequence[str]) -> UnknownNameError:
    """An UnknownNameError for a variable, listing the data's variables and the runs available."""
    return UnknownNameError("variable", name, store_vars, where="the data",
                            also=f"runs available: {', '.join(runs)}" if runs else "no trained runs yet")
