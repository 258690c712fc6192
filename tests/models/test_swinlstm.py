"""SwinLSTM-specific behaviour: window attention and shift masks, B/D sizes, closed-loop feedback, bad grids."""

from __future__ import annotations

import pytest
import torch

from geostp.errors import ConfigError, ShapeError
from geostp.models import create
from geostp.models.swinlstm import WindowAttention, check_tiling, SwinLSTMConfig


def naive_window_attention(attn: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Window attention written window by window, as in the Swin paper (reference for the fused version)."""
    b, h, w, d = x.shape
    ws, s, nh = attn.window, attn.shift, attn.heads
    xr = torch.roll(x, (-s, -s), (1, 2)) if s else x
    out = torch.zeros_like(xr)
    n = ws * ws
    rel = attn.relative_position_bias_table[attn.relative_position_index].view(n, n, nh).permute(2, 0, 1)
    k = 0
    for wy in range(h // ws):
        for wx in range(w // ws):
            tok = xr[:, wy * ws:(wy + 1) * ws, wx * ws:(wx + 1) * ws].reshape(b, n, d)
            q, kk, v = attn.qkv(tok).view(b, n, 3, nh, d // nh).permute(2, 0, 3, 1, 4)
            logits = q @ kk.transpose(-1, -2) / (d // nh) ** 0.5 + rel
            if s:
                logits = logits - 100.0 * attn.region_mask[k].float()
            o = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, ws, ws, d)
            out[:, wy * ws:(wy + 1) * ws, wx * ws:(wx + 1) * ws] = o
            k += 1
    out = torch.roll(out, (s, s), (1, 2)) if s else out
    return attn.proj(out)


@pytest.mark.parametrize(("grid", "shift"), [((8, 8), 0), ((8, 8), 2), ((8, 12), 2)])
def test_fused_window_attention_equals_window_by_window(grid, shift):
    torch.manual_seed(0)
    attn = WindowAttention(16, 2, 4, shift, grid, 0.0, 0.0, periodic_w=False).eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_(0, 1.0)
    x = torch.randn(2, *grid, 16)
    torch.testing.assert_close(attn(x), naive_window_attention(attn, x), atol=1e-5, rtol=1e-5)


def _influence(attn: WindowAttention, target: tuple[int, int]) -> torch.Tensor:
    """|d out[target] / d x| summed over channels: which input tokens the target token attends to."""
    x = torch.randn(1, *attn.grid, 8, requires_grad=True)
    attn(x)[0, target[0], target[1]].sum().backward()
    return x.grad[0].abs().sum(-1)


def test_shifted_window_mask_blocks_cross_region_attention():
    """(7, 7) of an 8x8 grid shares its rolled window with rows/cols {6, 7, 0, 1}; only its own corner region
    (rows 6-7, cols 6-7) may influence it, the wrapped-around tokens must not."""
    torch.manual_seed(0)
    attn = WindowAttention(8, 2, 4, 2, (8, 8), 0.0, 0.0, periodic_w=False)
    g = _influence(attn, (7, 7))
    same_region = {(6, 6), (6, 7), (7, 6), (7, 7)}
    for yy in range(8):
        for xx in range(8):
            if (yy, xx) in same_region:
                assert g[yy, xx] > 1e-6, (yy, xx)
            else:
                assert g[yy, xx] < 1e-20, f"token {(yy, xx)} leaks into (7, 7) across the shifted-window seam"


def test_periodic_w_lets_the_roll_wrap_longitude_but_not_latitude():
    torch.manual_seed(0)
    attn = WindowAttention(8, 2, 4, 2, (8, 8), 0.0, 0.0, periodic_w=True)
    g = _influence(attn, (7, 7))
    assert g[7, 0] > 1e-6 and g[6, 1] > 1e-6  # neighbours across the W seam
    assert g[0, 7] < 1e-20 and g[1, 0] < 1e-20  # still masked across the H seam
    assert g[3, 3] == 0  # outside the window


def test_unshifted_window_sees_only_its_own_window():
    torch.manual_seed(0)
    attn = WindowAttention(8, 2, 4, 0, (8, 8), 0.0, 0.0, periodic_w=False)
    g = _influence(attn, (5, 6))
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[4:, 4:] = True
    assert (g[inside] > 1e-6).all() and (g[~inside] == 0).all()


def test_b_and_d_sizes_match_the_authors_code():
    """The authors' code instantiated: D 20,191,969 and B 2,778,417 including the never-used projections."""
    for preset, ours, authors in (("mmnist", 18_845_409, 20_191_969), ("mmnist_b", 2_581_041, 2_778_417)):
        n = sum(p.numel() for p in create("swinlstm", preset).parameters())
        n_all = sum(p.numel() for p in create("swinlstm", preset, keep_unused_projections=True).parameters())
        assert (n, n_all) == (ours, authors), preset


def test_d_pyramid_layout_follows_the_authors():
    m = create("swinlstm", "mmnist")
    down = [(c.blocks[0].attn.grid, c.blocks[0].attn.heads, len(c.blocks)) for c in m.down]
    up = [(c.blocks[0].attn.grid, c.blocks[0].attn.heads, len(c.blocks)) for c in m.up]
    assert down == [((32, 32), 4, 2), ((16, 16), 8, 6)]
    assert up == [((8, 8), 8, 2), ((16, 16), 4, 6)]  # reversed indices: 4 heads in the 16x16 up cell
    assert [b.attn.shift for b in m.down[1].blocks] == [0, 2] * 3
    assert [b.drop_path.p for b in m.up[1].blocks][-1] == 0.0 and m.up[0].blocks[0].drop_path.p == pytest.approx(0.1)
    b = create("swinlstm", "mmnist_b")
    assert len(b.down) == 1 and len(b.down[0].blocks) == 12 and not b.up and not b.merges


def test_small_stage_grid_shrinks_the_window_and_stops_shifting():
    m = create("swinlstm", "tiny")  # 16x16 frames, patch 2: stages 8x8, 4x4, 2x2
    assert [(c.blocks[1].attn.window, c.blocks[1].attn.shift) for c in m.down] == [(4, 2), (4, 0)]
    assert (m.up[0].blocks[1].attn.window, m.up[0].blocks[1].attn.shift) == (2, 0)


def test_prediction_is_fed_back_closed_loop():
    torch.manual_seed(0)
    m = create("swinlstm", "tiny", t_out=3).eval()
    x = torch.randn(2, 3, 2, 16, 16)
    with torch.no_grad():
        out = m(x)
        states = None
        for t in range(2):
            _, states = m.step(x[:, t], states)
        frame, manual = x[:, -1], []
        for _ in range(3):
            frame, states = m.step(frame, states)
            manual.append(frame)
    torch.testing.assert_close(out, torch.stack(manual, 1))


def test_teacher_forcing_feeds_the_true_frame_and_decays():
    torch.manual_seed(0)
    m = create("swinlstm", "tiny", t_out=3, teacher_forcing=1.0, teacher_forcing_decay_steps=4).eval()
    x, y = torch.randn(1, 3, 2, 16, 16), torch.randn(1, 3, 2, 16, 16)
    with torch.no_grad():
        forced = m.unroll(x, y, p_true=1.0, keep_warmup=False)
        states = None
        for t in range(2):
            _, states = m.step(x[:, t], states)
        first, states = m.step(x[:, -1], states)
        second, _ = m.step(y[:, 0], states)  # the true frame, not `first`
    torch.testing.assert_close(forced[:, :2], torch.stack([first, second], 1))
    assert not torch.allclose(forced, m(x))
    m.train()
    probs = []
    for _ in range(5):
        probs.append(m.teacher_forcing_probability())
        m.training_loss(x, y)
    assert probs == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])


def test_loss_covers_warmup_and_future_frames():
    torch.manual_seed(0)
    m = create("swinlstm", "tiny").eval()
    x, y = torch.randn(2, 3, 2, 16, 16), torch.randn(2, 4, 2, 16, 16)
    with torch.no_grad():
        all_frames = m.unroll(x)
        assert all_frames.shape[1] == 2 + 4
        loss = m.training_loss(x, y).loss
    torch.testing.assert_close(loss, torch.nn.functional.mse_loss(all_frames, torch.cat([x[:, 1:], y], 1)))


@pytest.mark.parametrize(("patch", "size"), [(1, 8), (3, 24), (4, 32)])
def test_head_inverts_any_patch_size(patch, size):
    m = create("swinlstm", "tiny", in_shape=(2, 1, size, size), t_out=1, variant="B", depths=(2,), patch_size=patch)
    assert m(torch.randn(1, 2, 1, size, size)).shape == (1, 1, 1, size, size)


def test_sigmoid_output_for_frames():
    m = create("swinlstm", "tiny", output_activation="sigmoid").eval()
    out = m(10 * torch.randn(1, 3, 2, 16, 16))
    assert out.min() >= 0 and out.max() <= 1


def test_grids_it_cannot_tile_name_the_multiple():
    with pytest.raises(ShapeError, match="multiples of patch x window x 2\\^merges = 2 x 4 x 4 = 32"):
        create("swinlstm", "mmnist", in_shape=(10, 1, 40, 40))  # 20 -> 10 -> 5 tokens: no even merge
    with pytest.raises(ShapeError, match="patch size 2"):
        create("swinlstm", "mmnist", in_shape=(10, 1, 63, 64))
    with pytest.raises(ShapeError, match="window 4.*multiples of .* = 8"):
        create("swinlstm", "mmnist_b", in_shape=(10, 1, 36, 36))  # 18 x 18 tokens, window 4
    h, w = check_tiling(SwinLSTMConfig(in_shape=(12, 1, 32, 64)))  # WeatherBench grid tiles
    assert (h, w) == (16, 32)


def test_bad_hyper_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="heads"):
        create("swinlstm", "tiny", num_heads=(3, 3))
    with pytest.raises(ConfigError, match="same length"):
        create("swinlstm", "tiny", depths_up=(2,))
    with pytest.raises(ConfigError, match="probability"):
        create("swinlstm", "tiny", teacher_forcing=1.5)


def test_residual_steps_feed_states_back():
    """`residual=True`: each closed-loop step adds its increment to the frame it was fed and feeds that state
    back, so a head predicting +1 gives last frame + k at lead k; with the sigmoid output it is refused."""
    from geostp.errors import ConfigError
    from geostp.models import create

    model = create("swinlstm", "tiny", residual=True).eval()

    class Ones(torch.nn.Module):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return tokens.new_ones(tokens.shape[0], *x.shape[2:])  # (B, C, H, W) of one frame

    x = torch.randn(2, *model.config.in_shape)
    model.head = Ones()
    with torch.no_grad():
        y = model(x)
    for k in range(model.config.t_out):
        assert torch.allclose(y[:, k], x[:, -1] + (k + 1), atol=1e-5)
    with pytest.raises(ConfigError, match="output_activation"):
        create("swinlstm", "tiny", residual=True, output_activation="sigmoid")
