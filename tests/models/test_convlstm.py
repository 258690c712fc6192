"""ConvLSTM specifics: OpenSTL's patch order, the fused cell, scheduled sampling, counts and FLOPs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from geostp.models import create
from geostp.models.flops import count_params, forward_gflops
from geostp.models.layers.convlstm_cell import ConvLSTMCell


def test_patch_channel_order_is_openstl_space_to_depth():
    model = create("convlstm", "tiny", patch_size=2)
    x = torch.randn(2, 3, 2, 16, 16)
    patched = model._patch(x)
    assert patched.shape == (2, 3, 8, 8, 8)
    p, c_n = 2, 2
    for i in range(p):
        for j in range(p):
            for c in range(c_n):
                assert torch.equal(patched[:, :, (i * p + j) * c_n + c], x[:, :, c, i::p, j::p])
    assert torch.equal(model._unpatch(patched), x)


@pytest.mark.parametrize("h_update", ["o_tanh_c", "o_g"])
def test_fused_cell_equals_openstl_two_convolutions(h_update):
    cell = ConvLSTMCell(3, 4, 5, h_update)
    wx, wh = cell.conv.weight[:, :3], cell.conv.weight[:, 3:]
    x, h, c = torch.randn(2, 3, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    i, f, g, o = (F.conv2d(x, wx, padding=2) + F.conv2d(h, wh, padding=2)).split(4, dim=1)
    c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_ref = torch.sigmoid(o) * (torch.tanh(c_ref) if h_update == "o_tanh_c" else torch.tanh(g))
    h_new, c_new = cell(x, h, c)
    assert torch.allclose(h_new, h_ref, atol=1e-6) and torch.allclose(c_new, c_ref, atol=1e-6)


def test_fused_cell_init_uses_each_convolutions_fan_in():
    cell = ConvLSTMCell(16, 128, 5)
    assert cell.conv.weight[:, :16].abs().max() <= (16 * 25) ** -0.5
    assert cell.conv.weight[:, :16].abs().max() > (128 * 25) ** -0.5  # wider than the hidden part's bound
    assert cell.conv.weight[:, 16:].abs().max() <= (128 * 25) ** -0.5


@pytest.mark.parametrize(("preset", "params", "gflops"), [
    ("mmnist", 11_675_648, 56.79), ("taxibj", 11_572_224, 20.74), ("weatherbench", 11_520_512, 135.67),
    ("kth", 11_520_512, 1368.45),
])
def test_counts_and_flops_match_the_reference_code(preset, params, gflops):
    with torch.device("meta"):
        model = create("convlstm", preset)
    assert count_params(model) == params
    assert forward_gflops(model, model.config.in_shape) == pytest.approx(gflops, rel=0.001)


def test_free_running_forward_equals_the_loss_path_at_eta_zero():
    model = create("convlstm", "tiny", sampling_start=0.0).eval()
    x, y = torch.randn(2, 3, 2, 16, 16), torch.randn(2, 4, 2, 16, 16)
    out = model.training_loss(x, y)
    assert out.terms["forecast_mse"] == pytest.approx(F.mse_loss(model(x), y).item(), rel=1e-5)


@pytest.mark.parametrize(("eta", "depends"), [(1.0, True), (0.0, False)])
def test_teacher_forcing_feeds_true_future_frames(eta, depends):
    """With η = 1 the output after step T_in depends on the true frame y[:, 0]; with η = 0 it cannot."""
    model = create("convlstm", "tiny", sampling_start=eta, sampling_decay=0.0)
    x, y = torch.randn(1, 3, 2, 16, 16), torch.randn(1, 4, 2, 16, 16)
    y2 = y.clone()
    y2[:, 0] += 1.0
    frames = [model._patch(torch.cat([x, yy], dim=1)) for yy in (y, y2)]
    mask = torch.full((1, 3), eta)
    with torch.no_grad():
        a, b = (model._unroll(f, mask) for f in frames)
    assert torch.equal(a[:, :3], b[:, :3])  # outputs up to and including the prediction of y[:, 0]
    assert (not torch.equal(a[:, 3:], b[:, 3:])) == depends


def test_sampling_probability_decays_per_training_step_and_is_saved():
    model = create("convlstm", "tiny", sampling_decay=0.25)
    x, y = torch.randn(1, 3, 2, 16, 16), torch.randn(1, 4, 2, 16, 16)
    etas = [model.train().training_loss(x, y).terms["eta"].item() for _ in range(5)]
    assert etas == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    model.eval().training_loss(x, y)  # evaluation does not advance the schedule
    assert int(model.state_dict()["sampling_step"]) == 5
    assert count_params(model) == sum(p.numel() for p in model.parameters())


def test_the_two_cells_differ():
    x = torch.randn(1, 3, 2, 16, 16)
    torch.manual_seed(0)
    a = create("convlstm", "tiny").eval()(x)
    torch.manual_seed(0)
    b = create("convlstm", "tiny", h_update="o_g").eval()(x)
    assert not torch.allclose(a, b)


def test_grid_not_a_multiple_of_the_patch_is_padded():
    model = create("convlstm", "tiny", in_shape=(2, 1, 15, 17), patch_size=4).eval()
    assert model(torch.randn(1, 2, 1, 15, 17)).shape == (1, 4, 1, 15, 17)


class _Ones(torch.nn.Module):
    """A read-out that predicts +1 everywhere: lead k of a state-feeding residual model is last frame + k."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.new_ones(h.shape[0], self.channels, *h.shape[2:])


def test_residual_steps_feed_states_back():
    """`residual=True`: each step adds its increment to the frame it was fed and feeds that state back, so a
    constant +1 increment gives last frame + k at lead k (the generic wrapper would give + 1 at every lead)."""
    model = create("convlstm", "tiny", residual=True).eval()
    assert type(model).__name__ != "Residual"
    model.readout = _Ones(model.readout.out_channels)
    x = torch.randn(2, *model.config.in_shape)
    with torch.no_grad():
        y = model(x)
    for k in range(model.config.t_out):
        assert torch.allclose(y[:, k], x[:, -1] + (k + 1), atol=1e-5)
