"""S-HR-VQVAE-specific behaviour: tokeniser quality and codebook use, PixelCNN causality, stages, decoding."""

from __future__ import annotations

import pytest
import torch

from geostp.errors import ConfigError, ShapeError
from geostp.models import create


def blobs(b: int, t: int, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    """(b, t, 1, h, w) Gaussian blobs moving at constant per-sample velocities, values in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(b, 1, 2, generator=g) * torch.tensor([h, w])
    vel = (torch.rand(b, 1, 2, generator=g) - 0.5) * 3
    c = pos + vel * torch.arange(t, dtype=torch.float32)[None, :, None]
    yy, xx = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(w, dtype=torch.float32)[None, :]
    d2 = (yy - c[..., 0, None, None]) ** 2 + (xx - c[..., 1, None, None]) ** 2
    return torch.exp(-d2 / 8.0)[:, :, None]


def test_vqvae_stage_reconstructs_and_uses_many_codes():
    torch.manual_seed(0)
    m = create("s_hr_vqvae", "tiny", in_shape=(3, 1, 16, 16), t_out=3, codebook_size=16)
    seq = blobs(4, 6)
    x, y = seq[:, :3], seq[:, 3:]
    opt = torch.optim.Adam([p for n, p in m.named_parameters() if n.startswith("vqvae.")], lr=3e-3)
    m.train()
    for _ in range(150):
        out = m.training_loss(x, y, "vqvae")
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    m.eval()
    frames = seq.flatten(0, 1)
    with torch.no_grad():
        zq, codes, _ = m.vqvae.quantize(frames)
        recon = m.vqvae.decoder(zq)
        # decoding from the indices alone gives the same frames (own decode-from-codes path)
        torch.testing.assert_close(m.vqvae.decode_codes(m.vqvae.encode_codes(seq)).flatten(0, 1), recon)
        z = m.vqvae.encoder(frames).permute(0, 2, 3, 1).reshape(-1, 8)
    rel = ((recon - frames) ** 2).mean() / frames.var()
    assert rel < 0.1, f"reconstruction error {rel:.3f} of the data variance"
    for level in range(2):
        used = codes[:, level].unique().numel()
        assert used >= 4, f"level {level} uses {used} of 16 codes (collapse)"
    assert out.terms["perplexity_0"] > 2 and out.terms["perplexity_1"] > 2
    # the second level refines the first: quantising the residual lowers the error
    with torch.no_grad():
        q = m.vqvae.quantizer
        one_level = ((q.levels[0].codebook[q.levels[0].nearest(z)] - z) ** 2).mean()
        two_levels = ((q(z)[0] - z) ** 2).mean()
    assert two_levels < 0.8 * one_level


def test_dead_codes_are_restarted_from_the_data():
    torch.manual_seed(0)
    m = create("s_hr_vqvae", "tiny", in_shape=(3, 1, 16, 16), t_out=3, codebook_size=16)
    q = m.vqvae.quantizer.levels[0]
    r = torch.randn(500, 8)
    q.init_from(r)
    q.codebook[3] = 1e3  # far from every vector: never chosen
    q.ema_count[3] = 0.5  # and already below the threshold of one assignment per batch
    q.update(r, q.nearest(r))
    assert q.codebook[3].abs().max() < 100 and bool(q.initialized)


def _dependency(prior, t: int, h: int, w: int, seed: int = 0):
    """For every output (t, level, y, x): which input (t', group, y', x') its logits depend on (gradient != 0)."""
    torch.manual_seed(seed)
    n = prior.levels
    width = prior.embed.embedding_dim
    e = torch.randn(1, n * width, t, h, w, requires_grad=True)
    logits = prior.forward_features(e)  # (1, T, n, m, h, w)
    deps = {}
    for tt in range(t):
        for i in range(n):
            for yy in range(h):
                for xx in range(w):
                    (g,) = torch.autograd.grad(logits[0, tt, i, :, yy, xx].sum(), e, retain_graph=True)
                    deps[(tt, i, yy, xx)] = g[0].abs().view(n, width, t, h, w).sum(1) > 0  # (n, T, h, w)
    return deps


def test_pixelcnn_is_causal_in_time_raster_and_level():
    """An output never depends on a later frame, a later position in raster order, or its own/higher level at
    its own position; with attention it does see every earlier position (no blind spot)."""
    m = create("s_hr_vqvae", "tiny", in_shape=(2, 1, 12, 12), t_out=1, attention_every=1, prior_blocks=2)
    t, h, w, n = 3, 3, 3, 2
    deps = _dependency(m.prior, t, h, w)
    order = lambda tt, yy, xx: (tt * h + yy) * w + xx  # noqa: E731
    for (tt, i, yy, xx), dep in deps.items():
        here = order(tt, yy, xx)
        for gi in range(n):
            for t2 in range(t):
                for y2 in range(h):
                    for x2 in range(w):
                        there = order(t2, y2, x2)
                        allowed = there < here or (there == here and gi < i)
                        if not allowed:
                            assert not dep[gi, t2, y2, x2], (
                                f"logits of level {i} at (t={tt}, y={yy}, x={xx}) depend on level {gi} at "
                                f"(t={t2}, y={y2}, x={x2})")
                        elif there < here:
                            assert dep[gi, t2, y2, x2], f"({tt},{i},{yy},{xx}) cannot see earlier ({t2},{gi},{y2},{x2})"
    last = deps[(t - 1, 1, h - 1, w - 1)]
    assert last[0, t - 1, h - 1, w - 1] and not last[1, t - 1, h - 1, w - 1]


def test_frame_order_variant_is_causal_per_frame():
    m = create("s_hr_vqvae", "tiny", in_shape=(2, 1, 12, 12), t_out=1, attention_every=1, prior_blocks=1,
               spatial_order="none")
    deps = _dependency(m.prior, 2, 3, 3)
    dep = deps[(1, 1, 1, 1)]
    assert dep[:, 0].all()  # the whole previous frame
    assert dep[0, 1, 1, 1] and dep[0, 1].sum() == 1 and not dep[1, 1].any()  # only the lower level, same position
    assert not deps[(0, 0, 2, 2)].any()  # first frame, first level: no context


def test_stages_declared_for_joint_and_disjoint_training():
    joint = create("s_hr_vqvae", "tiny")
    stages = joint.training_stages()
    assert [s.name for s in stages] == ["vqvae", "pixelcnn", "joint"]
    assert sum(s.fraction for s in stages) == pytest.approx(1.0)
    assert stages[2].trainable == ("vqvae.decoder.", "prior.")
    disjoint = create("s_hr_vqvae", "tiny", training="disjoint")
    assert [s.name for s in disjoint.training_stages()] == ["vqvae", "pixelcnn"]
    with pytest.raises(ConfigError, match="stages: vqvae, pixelcnn"):
        disjoint.training_loss(torch.zeros(1, 3, 2, 16, 16), torch.zeros(1, 4, 2, 16, 16), "joint")


def test_each_stage_trains_only_its_part():
    torch.manual_seed(0)
    m = create("s_hr_vqvae", "tiny").train()
    x, y = torch.rand(2, 3, 2, 16, 16), torch.rand(2, 4, 2, 16, 16)
    m.training_loss(x, y, "vqvae")  # initialises the codebooks from data
    books = {k: v.clone() for k, v in m.state_dict().items() if "quantizer" in k}
    for stage, reached, untouched in (("pixelcnn", ("prior.",), ("vqvae.",)),
                                      ("joint", ("prior.", "vqvae.decoder."), ("vqvae.encoder.",))):
        m.zero_grad(set_to_none=True)
        m.training_loss(x, y, stage).loss.backward()
        for name, p in m.named_parameters():
            if name.startswith(untouched):
                assert p.grad is None, f"{stage} sends a gradient to {name}"
            elif name.startswith(reached):
                assert p.grad is not None, f"{stage} sends no gradient to {name}"
        for k, v in m.state_dict().items():
            if k in books:
                assert torch.equal(v, books[k]), f"{stage} changed the codebook buffer {k}"


def test_greedy_is_deterministic_and_sampling_follows_the_generator():
    torch.manual_seed(0)
    m = create("s_hr_vqvae", "tiny", t_out=2).eval()
    x = torch.rand(1, 3, 2, 16, 16)
    assert torch.equal(m(x), m.predict(x, sample=False))
    s1 = m.predict(x, sample=True, generator=torch.Generator().manual_seed(1))
    s1b = m.predict(x, sample=True, generator=torch.Generator().manual_seed(1))
    s2 = m.predict(x, sample=True, generator=torch.Generator().manual_seed(2))
    assert torch.equal(s1, s1b) and not torch.equal(s1, s2)
    assert m.predict(x, sample=True, temperature=0.01, generator=torch.Generator().manual_seed(3)).shape == s1.shape


def test_frame_order_decoding_shape():
    m = create("s_hr_vqvae", "tiny", spatial_order="none").eval()
    assert m(torch.rand(1, 3, 2, 16, 16)).shape == (1, 4, 2, 16, 16)


def test_configurations_that_do_not_fit_are_clear_errors():
    with pytest.raises(ShapeError, match="multiples of 4"):
        create("s_hr_vqvae", "tiny", in_shape=(3, 1, 18, 16))
    with pytest.raises(ShapeError, match="multiples of 8"):
        create("s_hr_vqvae", "kth", in_shape=(10, 1, 100, 128))
    with pytest.raises(ConfigError, match="multiple of levels"):
        create("s_hr_vqvae", "tiny", prior_hidden=30, levels=4)
    with pytest.raises(ConfigError, match="codebook_size >= 2"):
        create("s_hr_vqvae", "tiny", codebook_size=1)
    with pytest.raises(ConfigError, match="odd"):
        create("s_hr_vqvae", "tiny", prior_kernel=4)
    with pytest.raises(ConfigError, match="fractions"):
        create("s_hr_vqvae", "tiny", vqvae_fraction=0.8, joint_fraction=0.3)


def naive_generate(prior, context: torch.Tensor, t_out: int, raster: bool) -> torch.Tensor:
    """Greedy generation by re-running the whole predictor for every choice (the oracle for the cached path)."""
    b, t_in, n, h, w = context.shape
    codes = torch.cat([context, context.new_zeros(b, t_out, n, h, w)], dim=1)
    positions = [(y, x) for y in range(h) for x in range(w)] if raster else [(slice(None), slice(None))]
    for t in range(t_in, t_in + t_out):
        for y, x in positions:
            for i in range(n):
                codes[:, t, i, y, x] = prior(codes[:, : t + 1])[:, t, i, :, y, x].argmax(1)
    return codes[:, t_in:]


@pytest.mark.parametrize("order", ["raster", "none"])
def test_cached_generation_equals_full_recomputation(order):
    torch.manual_seed(0)
    m = create("s_hr_vqvae", "tiny", spatial_order=order, attention_every=1, t_out=3).eval()
    with torch.no_grad():
        for p in m.prior.parameters():  # sharper logits, so that greedy choices differ between positions
            p.mul_(3.0)
        context = torch.randint(0, 8, (2, 3, 2, 4, 4))
        fast = m.prior.generate(context, 3, sample=False, raster=order == "raster")
        slow = naive_generate(m.prior, context, 3, raster=order == "raster")
        codes = torch.randint(0, 8, (2, 6, 2, 4, 4))
        record: list = []
        m.prior.forward_features(m.prior.embed_codes(codes[:, :4]), record)
        torch.testing.assert_close(m.prior.frame_logits(codes[:, 4:5], 4, record), m.prior(codes[:, :5])[:, 4])
    assert torch.equal(fast, slow) and fast.unique().numel() > 1


@pytest.mark.parametrize("seed,kernel", [(0, 3), (1, 3), (2, 5)])
def test_incremental_decoding_picks_exactly_the_frame_level_codes(seed, kernel):
    """Cached one-position decoding (the default) against today's whole-frame decoding: identical greedy codes,
    and the record it hands to the next frame matches a full forward pass over the decoded frames."""
    from geostp.models.s_hr_vqvae_cache import FrameDecoder

    torch.manual_seed(seed)
    m = create("s_hr_vqvae", "tiny", levels=3, prior_hidden=24, prior_kernel=kernel, attention_every=1,
               t_out=3).eval()
    with torch.no_grad():
        for p in m.prior.parameters():
            p.mul_(3.0)
        context = torch.randint(0, 8, (2, 3, 3, 4, 4))
        cached = m.prior.generate(context, 3, sample=False)
        frame_level = m.prior.generate(context, 3, sample=False, cache=False)
        assert torch.equal(cached, frame_level) and cached.unique().numel() > 2
        codes = torch.cat([context, cached], dim=1)
        record: list = []
        m.prior.forward_features(m.prior.embed_codes(codes[:, :3]), record)
        dec = FrameDecoder(m.prior, record, 3, (4, 4))
        for y in range(4):
            for x in range(4):
                _, inputs = dec.logits(codes[:, 3, :, y, x], y, x)
                dec.finish(codes[:, 3, :, y, x], y, x, inputs)
        full: list = []
        m.prior.forward_features(m.prior.embed_codes(codes[:, :4]), full)
        for got, want in zip(dec.record(), full):
            torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)
        greedy = m.predict(torch.rand(1, 3, 2, 16, 16))
    assert greedy.shape == (1, 3, 2, 16, 16)


@pytest.mark.parametrize("mode", ["soft", "straight_through"])
def test_joint_stage_decodes_what_its_mode_says_and_decoding_errors_measure_the_gap(mode):
    """The joint stage's frame loss is the MSE of soft codewords ("soft") or of the hard argmax codes that
    prediction decodes ("straight_through"), and the frame loss reaches the predictor either way."""
    torch.manual_seed(0)
    m = create("s_hr_vqvae", "tiny", in_shape=(3, 1, 16, 16), t_out=3, joint_decode=mode).train()
    seq = blobs(2, 6)
    x, y = seq[:, :3], seq[:, 3:]
    m.eval()  # no codebook updates: the same codes in every call below
    errors = m.decoding_errors(x, y)
    out = m.training_loss(x, y, "joint")
    assert float(out.terms["mse"]) == pytest.approx(errors["soft" if mode == "soft" else "hard"], rel=1e-5)
    assert errors["soft"] != pytest.approx(errors["hard"], rel=1e-6)  # the two decodings differ
    with torch.no_grad():  # hard = decoding the argmax of the teacher-forced logits
        logits = m.prior(m.vqvae.encode_codes(seq))[:, 3:]
        hard = m.vqvae.decode_codes(logits.argmax(3))
    assert errors["hard"] == pytest.approx(float(((hard - y) ** 2).mean()), rel=1e-5)
    m.zero_grad()
    logits = m.prior(m.vqvae.encode_codes(seq))[:, 3:]
    frame = ((m.vqvae.decode_latents(m._joint_latents(logits)) - y) ** 2).mean()  # the frame term alone
    assert float(frame.detach()) == pytest.approx(float(out.terms["mse"]), rel=1e-5)
    frame.backward()
    grads = [p.grad for n, p in m.named_parameters() if n.startswith("prior.") and p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads), "the frame loss must reach the predictor"
    with pytest.raises(ConfigError, match="joint_decode"):
        create("s_hr_vqvae", "tiny", joint_decode="hard")


def test_temperature_zero_is_greedy_and_cached_sampling_draws_the_frame_level_codes():
    """Sampling at temperature 0 (and near it) picks the greedy codes; at temperature 1 the cached one-position decoder
    draws exactly the codes of the whole-frame reference from the same generator, and other seeds draw others."""
    torch.manual_seed(0)
    m = create("s_hr_vqvae", "tiny", levels=3, prior_hidden=24, attention_every=1, t_out=2, temperature=0.0).eval()
    with torch.no_grad():
        for p in m.prior.parameters():
            p.mul_(3.0)
        context = torch.randint(0, 8, (2, 3, 3, 4, 4))
        greedy = m.prior.generate(context, 2, sample=False)
        assert torch.equal(m.prior.generate(context, 2, sample=True, temperature=0.0), greedy)
        assert torch.equal(m.prior.generate(context, 2, sample=True, temperature=1e-4,
                                            generator=torch.Generator().manual_seed(5)), greedy)
        draws = [m.prior.generate(context, 2, sample=True, temperature=1.0, cache=cache,
                                  generator=torch.Generator().manual_seed(seed)) for cache, seed in
                 ((True, 1), (False, 1), (True, 2))]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2]) and not torch.equal(draws[0], greedy)
    x = torch.rand(1, 3, 2, 16, 16)
    assert torch.equal(m.predict(x, sample=True), m.predict(x, sample=False))  # the config's temperature 0
    with pytest.raises(ConfigError, match="temperature"):
        create("s_hr_vqvae", "tiny", temperature=-1.0)
