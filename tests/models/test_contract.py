"""The model contract, checked for every registered model (parametrised over `list_models()`).

Each model is tested at its `tiny` preset (see tests/models/README.md); parameter counts are checked at
the full presets against the published counts in the registry, without a forward pass.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from geostp.errors import ConfigError, GeostpError, ShapeError, UnknownNameError
from geostp.models import create, list_models, list_presets
from geostp.models.base import stage_parameters
from geostp.models.flops import count_preset
from geostp.models.registry import MODELS

NAMES = list_models()
# every model, and every model inside the residual wrapper (`create(name, preset, residual=True)`)
VARIANTS = [pytest.param(n, {}, id=n) for n in NAMES] + [pytest.param(n, {"residual": True}, id=f"{n}-residual")
                                                        for n in NAMES]
PUBLISHED = [(n, p) for n in NAMES for p in sorted(MODELS.get(n).published_params)]
OVERFIT_STEPS = 300  # upper bound; training stops as soon as the target is reached
OVERFIT_LR = 3e-3


def tiny(name: str, seed: int = 0, wrappers: dict | None = None, **overrides) -> torch.nn.Module:
    """The model at its `tiny` preset, built under a fixed seed."""
    if "tiny" not in list_presets(name):
        pytest.fail(f"model {name!r} has no 'tiny' preset; every model needs one (tests/models/README.md)")
    torch.manual_seed(seed)
    return create(name, "tiny", **(wrappers or {}), **overrides)


def moving_blobs(b: int, t: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """(b, t, c, h, w) sequences of a Gaussian blob moving at a per-sample, per-channel constant velocity."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(b, 1, c, 2, generator=g) * torch.tensor([h, w])
    vel = (torch.rand(b, 1, c, 2, generator=g) - 0.5) * 2.0
    steps = torch.arange(t, dtype=torch.float32)[None, :, None, None]
    centre = pos + vel * steps  # (b, t, c, 2)
    yy = torch.arange(h, dtype=torch.float32)[:, None]
    xx = torch.arange(w, dtype=torch.float32)[None, :]
    sigma = max(1.0, min(h, w) / 6)
    d2 = (yy - centre[..., 0, None, None]) ** 2 + (xx - centre[..., 1, None, None]) ** 2
    seq = torch.exp(-d2 / (2 * sigma**2))
    return (seq - seq.mean()) / seq.std()  # normalised like real data: a constant forecast scores MSE ~1


def batch(model: torch.nn.Module, b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets shaped as the model's config: one continuous sequence split at T_in."""
    t_in, c, h, w = model.config.in_shape
    seq = moving_blobs(b, t_in + model.config.t_out, c, h, w, seed)
    return seq[:, :t_in].contiguous(), seq[:, t_in:].contiguous()


def trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


# ------------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize(("name", "wrappers"), VARIANTS)
def test_output_shape_and_dtype(name, wrappers):
    model = tiny(name, wrappers=wrappers)
    x, y = batch(model)
    for mode in (True, False):
        out = model.train(mode)(x)
        assert out.shape == y.shape and out.dtype == torch.float32, (mode, out.shape, out.dtype)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "wrappers"), VARIANTS)
def test_in_shape_and_t_out_overrides(name, wrappers):
    """Other channel counts and T_in/T_out than the preset's are honoured (here C 1, T_in 2 → T_out 1 and 3)."""
    base = tiny(name, wrappers=wrappers)
    _, _, h, w = base.config.in_shape
    for t_out in (1, 3):
        model = tiny(name, wrappers=wrappers, in_shape=(2, 1, h, w), t_out=t_out).eval()
        assert model(torch.randn(1, 2, 1, h, w)).shape == (1, t_out, 1, h, w)


# ----------------------------------------------------------------------------------------- training


@pytest.mark.parametrize(("name", "wrappers"), VARIANTS)
def test_gradients_reach_every_parameter(name, wrappers):
    model = tiny(name, wrappers=wrappers).train()
    if not trainable(model):
        pytest.skip(f"{name} has no trainable parameters (nothing to receive gradients)")
    x, y = batch(model)
    reached: set[str] = set()
    names = {id(p): n for n, p in model.named_parameters()}
    for stage in model.training_stages():
        model.zero_grad(set_to_none=True)
        model.training_loss(x, y, stage.name).loss.backward()
        for p in stage_parameters(model, stage):
            n = names[id(p)]
            assert p.grad is not None, f"stage {stage.name}: no gradient reaches {n}"
            assert torch.isfinite(p.grad).all(), f"stage {stage.name}: non-finite gradient in {n}"
            assert p.grad.abs().sum() > 0, f"stage {stage.name}: zero gradient in {n}"
            reached.add(n)
    missing = sorted(set(dict(model.named_parameters())) - reached)
    assert not missing, f"parameters no training stage trains: {missing}"


@pytest.mark.parametrize(("name", "wrappers"), VARIANTS)
def test_overfits_a_tiny_batch(name, wrappers):
    """Training through every stage drives the forecast MSE of one small batch down by >= 90 %."""
    model = tiny(name, wrappers=wrappers)
    if not trainable(model):
        pytest.skip(f"{name} has no trainable parameters (nothing to fit)")
    x, y = batch(model)

    def forecast_mse() -> float:
        with torch.no_grad():
            return F.mse_loss(model.eval()(x), y).item()

    start = forecast_mse()
    torch.manual_seed(0)
    stages = model.training_stages()
    for k, stage in enumerate(stages):
        opt = torch.optim.Adam(stage_parameters(model, stage), lr=OVERFIT_LR)
        for step in range(max(1, math.ceil(OVERFIT_STEPS * stage.fraction))):
            model.train()
            loss = model.training_loss(x, y, stage.name).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if k == len(stages) - 1 and step % 10 == 9 and forecast_mse() <= 0.1 * start:
                break
    end = forecast_mse()
    assert end <= 0.1 * start, f"{name}: forecast MSE {start:.4g} -> {end:.4g} (needs a >= 90 % fall)"


# ---------------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize(("name", "wrappers"), VARIANTS)
def test_same_seed_same_output(name, wrappers):
    x, _ = batch(tiny(name, wrappers=wrappers))
    a = tiny(name, wrappers=wrappers, seed=0).eval()(x)
    b = tiny(name, wrappers=wrappers, seed=0).eval()(x)
    assert torch.equal(a, b)
    if trainable(tiny(name, wrappers=wrappers)):
        assert not torch.equal(a, tiny(name, wrappers=wrappers, seed=1).eval()(x)), "the seed does not change the initialisation"


@pytest.mark.parametrize(("name", "wrappers"), VARIANTS)
def test_safetensors_round_trip(name, wrappers, tmp_path):
    src = tiny(name, wrappers=wrappers, seed=0).eval()
    with torch.no_grad():  # non-default buffers (BN statistics, climatology fields) must travel too
        for buf in src.buffers():
            if buf.is_floating_point():
                buf.uniform_(0.5, 1.5)
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    dst = tiny(name, wrappers=wrappers, seed=1).eval()
    dst.load_state_dict(load_file(str(path)), strict=True)
    x, _ = batch(src)
    assert torch.equal(src(x), dst(x))


# --------------------------------------------------------------------------------- published counts


@pytest.mark.parametrize(("name", "preset"), PUBLISHED, ids=[f"{n}-{p}" for n, p in PUBLISHED])
def test_parameter_count_matches_published(name, preset):
    counted = count_preset(name, preset, flops=False)
    assert abs(counted.diff_pct) <= 2.0, (
        f"{name}/{preset}: {counted.params:,} parameters vs published {counted.published:,.0f} "
        f"({counted.diff_pct:+.2f} %; {counted.source})"
    )


@pytest.mark.parametrize("name", NAMES)
def test_forward_flops_are_countable_on_the_meta_device(name):
    """`geostp models` counts every model's FLOPs without running arithmetic (and without hanging)."""
    counted = count_preset(name, "tiny")
    if counted.params == 0:
        assert counted.gflops == 0.0
    else:
        assert counted.gflops is not None and counted.gflops > 0, f"{name}: FLOPs not countable on meta"


# -------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("name", "wrappers"), VARIANTS)
def test_wrong_rank_or_shape_is_a_shape_error(name, wrappers):
    model = tiny(name, wrappers=wrappers).eval()
    x, _ = batch(model)
    t, c, h, w = model.config.in_shape
    bad = {
        "rank 4": x[:, 0],
        "T_in + 1": torch.cat([x, x[:, :1]], dim=1),
        "C + 1": torch.cat([x, x[:, :, :1]], dim=2),
        "another grid": torch.zeros(x.shape[0], t, c, h + 4, w + 4),
    }
    for what, xb in bad.items():
        with pytest.raises(ShapeError, match=r"\(|shape"):
            model(xb)
        del what


def test_unknown_model_lists_known_ones():
    with pytest.raises(UnknownNameError) as err:
        create("simvp3")
    assert all(n in str(err.value) for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_preset_lists_presets(name):
    with pytest.raises(UnknownNameError) as err:
        create(name, "no_such_preset")
    assert all(p in str(err.value) for p in list_presets(name))


@pytest.mark.parametrize("name", NAMES)
def test_unknown_override_lists_valid_keys(name):
    with pytest.raises(ConfigError) as err:
        create(name, "tiny", no_such_key=1)
    assert "no_such_key" in str(err.value) and "in_shape" in str(err.value) and "t_out" in str(err.value)


@pytest.mark.parametrize(("name", "wrappers"), VARIANTS)
def test_impossible_shapes_are_clear_errors(name, wrappers):
    """An empty grid or zero output frames is refused with a geostp error (at build or at call time)."""
    t, c, h, w = tiny(name, wrappers=wrappers).config.in_shape
    for overrides in ({"in_shape": (t, c, 0, w)}, {"t_out": 0}):
        with pytest.raises(GeostpError):
            model = create(name, "tiny", **wrappers, **overrides).eval()
            model(torch.zeros(1, *model.config.in_shape))
