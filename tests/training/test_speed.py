"""The `speed:` options take effect (what a CPU can show) or say why they cannot; none changes the result."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from geostp.errors import ConfigError
from geostp.models import create
from geostp.training import load_config, train
from geostp.training.config import SpeedConfig
from geostp.training.optim import build_optimizer
from geostp.training.speed import DevicePrefetcher, not_applicable, optimizer_options, pin_memory, prepare_model

CPU = torch.device("cpu")


def _weights(run) -> dict[str, torch.Tensor]:
    return load_file(str(run / "last.safetensors"))


def test_gpu_only_options_say_they_do_not_apply_on_cpu():
    notes = not_applicable(SpeedConfig(cuda_graphs=True, pin_memory=True, prefetch=2, compile=True,
                                       compile_mode="reduce-overhead"), CPU)
    assert len(notes) == 4
    for key in ("speed.cuda_graphs", "speed.pin_memory", "speed.prefetch", "speed.compile_mode"):
        assert any(n.startswith(key) and "cpu" in n for n in notes), key
    assert not_applicable(SpeedConfig(), CPU) == []
    assert not_applicable(SpeedConfig(cuda_graphs=True, pin_memory=True, prefetch=2), torch.device("cuda")) == []
    assert pin_memory(SpeedConfig(), CPU) is False and pin_memory(SpeedConfig(pin_memory=True), CPU) is False
    assert pin_memory(SpeedConfig(), torch.device("cuda")) is True
    with pytest.raises(ConfigError, match="contradicts"):
        not_applicable(SpeedConfig(cuda_graphs=True, compile_mode="max-autotune-no-cudagraphs"), CPU)


def test_optimizer_kernel_is_the_one_asked_for():
    model = create("simvp", "tiny")
    cfg = load_config({"model": {"name": "simvp", "preset": "tiny"}}).optim
    for impl, key, value in (("fused", "fused", True), ("foreach", "foreach", True), ("loop", "foreach", False)):
        opt = build_optimizer(model, cfg, optimizer_options(SpeedConfig(optimizer_impl=impl), CPU))
        assert opt.defaults[key] is value, impl
    assert optimizer_options(SpeedConfig(), torch.device("cuda")) == {"fused": True}
    assert optimizer_options(SpeedConfig(), CPU) == {}


def test_channels_last_converts_conv_weights_and_refuses_models_without_them():
    model = create("simvp", "tiny")
    assert prepare_model(model, SpeedConfig(channels_last=True), CPU) == ["channels_last"]
    convs = [p for p in model.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    with pytest.raises(ConfigError, match="no 2-D convolution"):
        prepare_model(create("persistence", "tiny"), SpeedConfig(channels_last=True), CPU)


def test_channels_last_on_a_model_with_3d_convolutions():
    """ViP-Mixer has Conv3d weights (5-D), which Module.to(memory_format=channels_last) refuses: the 2-D ones
    are converted, the 3-D ones left as they are (docs/training.md's speed example trains vip_mixer)."""
    model = create("vip_mixer", "tiny")
    assert any(p.dim() == 5 for p in model.parameters())
    assert prepare_model(model, SpeedConfig(channels_last=True), CPU) == ["channels_last"]
    convs = [p for p in model.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    out = model(torch.randn(2, *model.config.in_shape))
    assert out.shape[1] == model.config.t_out


def test_compile_wraps_the_call_and_keeps_state_dict_names():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.GELU(), torch.nn.Conv2d(4, 2, 1))
    names, x = list(model.state_dict()), torch.randn(3, 2, 8, 8)
    expected = model(x)
    applied = prepare_model(model, SpeedConfig(compile=True, compile_backend="eager"), CPU)
    assert applied == ["compile(eager, default)"] and model._compiled_call_impl is not None
    assert list(model.state_dict()) == names  # checkpoints do not depend on the option
    assert torch.allclose(model(x), expected, atol=1e-6)


def test_prefetcher_yields_the_source_batches_in_order_and_reads_ahead():
    pulled = []

    def source():
        for i in range(5):
            pulled.append(i)
            yield torch.full((2,), float(i)), torch.full((1,), float(-i))

    it = DevicePrefetcher(source(), CPU, depth=2)
    first = next(it)
    assert pulled == [0, 1, 2]  # the batch in use plus two ahead
    rest = list(it)
    assert [float(b[0][0]) for b in [first, *rest]] == [0, 1, 2, 3, 4]
    assert [float(b[1][0]) for b in [first, *rest]] == [0, -1, -2, -3, -4]
    pulled.clear()
    assert len(list(DevicePrefetcher(source(), CPU, depth=0))) == 5 and pulled == [0, 1, 2, 3, 4]


def test_training_with_speed_options_matches_plain_training(make_config, tmp_path):
    """channels-last, fused AdamW and the prefetcher change how fast, not what is learned; the GPU-only
    options are recorded in environment.json as not applicable."""
    plain = train(make_config(train={"max_steps": 6}, eval={"every": 6}), out=tmp_path / "plain")
    fast = train(make_config(train={"max_steps": 6}, eval={"every": 6},
                             speed={"channels_last": True, "optimizer_impl": "fused", "prefetch": 2,
                                    "cuda_graphs": True}), out=tmp_path / "fast")
    a, b = _weights(plain), _weights(fast)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5), k
    env = json.loads((fast / "environment.json").read_text())["speed"]
    assert env["applied"] == ["channels_last"]
    assert [n.split(":")[0] for n in env["not_applicable"]] == ["speed.cuda_graphs", "speed.prefetch"]


def test_speed_options_may_change_on_resume(make_config, tmp_path):
    cfg = make_config(train={"max_steps": 4, "stop_at_step": 2}, eval={"every": 2})
    run = train(cfg, out=tmp_path / "run")
    train(resume=run, overrides=["speed.optimizer_impl=foreach", "train.stop_at_step=null"])
    assert sorted(p.name for p in (run / "state").iterdir()) == ["step-00000002", "step-00000004"]  # newest two kept



def test_deterministic_training_keeps_one_thread_count(monkeypatch):
    """The thread tuner switches thread counts (another float summation order): off when train.deterministic,
    so resumed runs stay bit for bit; on otherwise when the user has not fixed the count."""
    from geostp.training.loop import thread_tuner

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    t = load_config({}).train
    assert thread_tuner(t, CPU, 1) is not None
    t.deterministic = True
    assert thread_tuner(t, CPU, 1) is None
