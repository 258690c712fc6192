"""Model speed: parameters, GFLOPs, training and inference samples/s for every model and preset.

Training = forward + `training_loss` + backward + Adam step at batch 16; inference = no-grad forward at
batch 16 and batch 1. Each row is measured eager (fp32) and with the faster variants the device offers:
bf16 autocast, channels-last memory format, torch.compile (alone or combined); the table gives eager
figures, the best variant and its figures. Saves benchmarks/results/bench_models_<device>.{md,json}.

Examples:
    python benchmarks/bench_models.py --device cuda                       # everything, on a GPU
    python benchmarks/bench_models.py --quick --models simvpv2 convlstm --presets taxibj
    python benchmarks/bench_models.py --variants eager bf16 compile+bf16 --models simvpv2 --presets mmnist
    python benchmarks/bench_models.py --decode      # S-HR-VQVAE raster decoding: cached vs frame-level

`--decode` times S-HR-VQVAE's greedy raster decoding (batch 1, random weights: the cost does not depend
on them) of one frame with the incremental cache and with the frame-level path it replaced, checks both
pick the same codes, and times one whole forecast per preset with the cache; wall and CPU seconds, with
the load average, in benchmarks/results/bench_models_decode_<device>.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from geostp.io import atomic_write_text
from geostp.models import create, list_models, list_presets
from geostp.models.flops import count_preset

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("eager", "bf16", "channels_last", "channels_last+bf16", "compile", "compile+bf16",
            "bf16+fused", "channels_last+bf16+fused", "compile+bf16+fused")  # fused: fused Adam kernel


@dataclass
class Row:
    """Measurements of one model preset (samples/s; None when a variant failed or was not run)."""

    model: str
    preset: str
    params: int
    gflops: float | None
    train: dict[str, float | None] = field(default_factory=dict)  # variant -> samples/s at batch B
    infer: dict[str, float | None] = field(default_factory=dict)  # variant -> samples/s at batch B
    infer1: dict[str, float | None] = field(default_factory=dict)  # variant -> samples/s at batch 1
    errors: dict[str, str] = field(default_factory=dict)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, warmup: int, iters: int, batch: int) -> float:
    """Samples per second of `fn` (one call = one batch) after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return batch * iters / (time.perf_counter() - start)


def _build(name: str, preset: str, variant: str, device: torch.device) -> torch.nn.Module:
    """The model in a variant's memory format; `Module.compile()` compiles its `__call__` in place, so
    `training_loss` (which calls `self(x)`) runs compiled too."""
    torch.manual_seed(0)
    model = create(name, preset).to(device)
    if "channels_last" in variant:
        model = model.to(memory_format=torch.channels_last)
    if "compile" in variant:
        model.compile()
    return model


def bench_variant(name: str, preset: str, variant: str, device: torch.device, batch: int, warmup: int,
                  iters: int) -> tuple[float | None, float | None, float | None]:
    """Training, inference (batch) and inference (batch 1) samples/s of one variant."""
    model = _build(name, preset, variant, device)
    t_in, c, h, w = model.config.in_shape
    x = torch.randn(batch, t_in, c, h, w, device=device)
    y = torch.randn(batch, model.config.t_out, c, h, w, device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled="bf16" in variant)
    params = [p for p in model.parameters() if p.requires_grad]
    train = None
    if params:
        opt = torch.optim.Adam(params, lr=1e-4, **({"fused": True} if "fused" in variant else {}))
        stage = model.training_stages()[-1].name

        def train_step() -> None:
            model.train()
            with amp:
                loss = model.training_loss(x, y, stage).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        train = _timed(train_step, device, warmup, iters, batch)
    model.eval()

    def infer(xb: torch.Tensor) -> None:
        with torch.no_grad(), amp:
            model(xb)

    inf = _timed(lambda: infer(x), device, warmup, iters, batch)
    inf1 = _timed(lambda: infer(x[:1]), device, warmup, iters, 1)
    return train, inf, inf1


def run(models: list[str], presets: list[str] | None, variants: list[str], device: torch.device, batch: int,
        warmup: int, iters: int) -> list[Row]:
    """Benchmark every (model, preset, variant); failures are recorded, not fatal."""
    rows = []
    for name in models:
        for preset in list_presets(name):
            if (presets and preset not in presets) or (not presets and preset == "tiny"):  # tiny only when asked
                continue
            counted = count_preset(name, preset)
            row = Row(name, preset, counted.params, counted.gflops)
            for variant in variants:
                try:
                    row.train[variant], row.infer[variant], row.infer1[variant] = bench_variant(
                        name, preset, variant, device, batch, warmup, iters)
                except Exception as exc:  # noqa: BLE001 - one failing variant must not stop the table
                    row.errors[variant] = f"{type(exc).__name__}: {exc}"[:200]
                    row.train[variant] = row.infer[variant] = row.infer1[variant] = None
                print(f"{name:12s} {preset:13s} {variant:20s} train {_f(row.train[variant])} "
                      f"infer {_f(row.infer[variant])} infer@1 {_f(row.infer1[variant])}", flush=True)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            rows.append(row)
    return rows


def _f(v: float | None) -> str:
    return "fail" if v is None else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _best(d: dict[str, float | None]) -> tuple[str, float | None]:
    ok = {k: v for k, v in d.items() if v is not None}
    if not ok:
        return "-", None
    k = max(ok, key=ok.get)
    return k, ok[k]


def table(rows: list[Row], batch: int) -> str:
    """Markdown table: eager figures, then the fastest variant per column."""
    head = (f"| model | preset | params | GFLOPs | train b{batch} eager | train best (variant) | infer b{batch} eager "
            f"| infer b{batch} best (variant) | infer b1 eager | infer b1 best (variant) |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        cells = [r.model, r.preset, f"{r.params / 1e6:.2f}M", "n/a" if r.gflops is None else f"{r.gflops:.2f}"]
        for d in (r.train, r.infer, r.infer1):
            k, v = _best(d)
            cells += [_f(d.get("eager")) if "eager" in d else "-", f"{_f(v)} ({k})" if v is not None else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bench_decode(presets: list[str], device: torch.device) -> str:
    """Markdown table of S-HR-VQVAE raster decoding: one frame cached vs frame-level, one full forecast cached."""
    import os

    def timed(fn):
        _sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        _sync(device)
        return out, time.perf_counter() - wall, time.process_time() - cpu

    lines = ["| preset | tokens (T_in, levels, h, w) | 1 frame cached wall / CPU s | 1 frame frame-level wall / CPU s "
             "| speed-up wall / CPU | same codes | full forecast (T_out frames) cached wall / CPU s | load avg |",
             "|" + "---|" * 8]
    for preset in presets:
        torch.manual_seed(0)
        model = create("s_hr_vqvae", preset).to(device).eval()
        cfg = model.config
        t_in, c, h, w = cfg.in_shape
        grid = h // 2 ** cfg.downsamples, w // 2 ** cfg.downsamples
        ctx = torch.randint(0, cfg.codebook_size, (1, t_in, cfg.levels, *grid), device=device)
        with torch.no_grad():
            fast, fw, fc = timed(lambda: model.prior.generate(ctx, 1, sample=False))
            print(f"s_hr_vqvae {preset}: 1 frame cached {fw:.1f} s wall, {fc:.1f} s CPU", flush=True)
            slow, sw, sc = timed(lambda: model.prior.generate(ctx, 1, sample=False, cache=False))
            print(f"s_hr_vqvae {preset}: 1 frame frame-level {sw:.1f} s wall, {sc:.1f} s CPU", flush=True)
            x = torch.rand(1, t_in, c, h, w, device=device)
            _, pw, pc = timed(lambda: model.predict(x))
            print(f"s_hr_vqvae {preset}: forecast of {cfg.t_out} frames cached {pw:.1f} s wall, {pc:.1f} s CPU",
                  flush=True)
        load = " ".join(f"{v:.1f}" for v in os.getloadavg())
        lines.append(f"| {preset} | {t_in}, {cfg.levels}, {grid[0]}, {grid[1]} | {fw:.1f} / {fc:.1f} | {sw:.1f} / {sc:.1f} "
                     f"| {sw / fw:.1f}x / {sc / fc:.1f}x | {torch.equal(fast, slow)} | {cfg.t_out}: {pw:.1f} / {pc:.1f} "
                     f"| {load} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device, e.g. cuda, cuda:1, cpu (default: cuda when available)")
    parser.add_argument("--models", nargs="*", help="models to run (default: every registered model)")
    parser.add_argument("--presets", nargs="*", help="presets to run, e.g. mmnist taxibj (default: all but tiny)")
    parser.add_argument("--variants", nargs="*", choices=VARIANTS,
                        help="variants (default on CUDA: all; on CPU: eager bf16 channels_last)")
    parser.add_argument("--batch", type=int, default=16, help="training / inference batch size (default 16)")
    parser.add_argument("--quick", action="store_true", help="1 warm-up + 2 timed steps (default 3 + 10)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for the table and JSON (default benchmarks/results), e.g. --out gpu_out/")
    parser.add_argument("--decode", nargs="*", metavar="PRESET",
                        help="only the S-HR-VQVAE decoding benchmark, on these presets (default: mmnist kth)")
    args = parser.parse_args()

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.decode is not None:
        dev = f"CPU, {torch.get_num_threads()} threads" if device.type == "cpu" else torch.cuda.get_device_name(device)
        text = (f"# bench_models --decode: S-HR-VQVAE greedy raster decoding, batch 1, {dev}, torch {torch.__version__}\n\n"
                f"{bench_decode(args.decode or ['mmnist', 'kth'], device)}\n")
        print("\n" + text)
        atomic_write_text(args.out / f"bench_models_decode_{device.type}.md", text)
        print(f"saved {args.out / f'bench_models_decode_{device.type}.md'}")
        return
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32
    variants = args.variants or (list(VARIANTS) if device.type == "cuda" else ["eager", "bf16", "channels_last"])
    warmup, iters = (1, 2) if args.quick else (3, 10)
    models = args.models or list_models()
    rows = run(models, args.presets, variants, device, args.batch, warmup, iters)

    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    text = (f"# bench_models: {dev_name}, torch {torch.__version__}, batch {args.batch}, "
            f"{warmup} warm-up + {iters} timed steps, variants {', '.join(variants)}\n\n"
            f"samples/s; train = forward + training_loss + backward + Adam step; GFLOPs per sample "
            f"(1 multiply-add = 1 FLOP)\n\n{table(rows, args.batch)}\n")
    errors = [f"- {r.model}/{r.preset} {v}: {e}" for r in rows for v, e in r.errors.items()]
    if errors:
        text += "\nFailed variants:\n" + "\n".join(errors) + "\n"
    print("\n" + text)
    tag = device.type + ("_quick" if args.quick else "")
    atomic_write_text(args.out / f"bench_models_{tag}.md", text)
    atomic_write_text(args.out / f"bench_models_{tag}.json", json.dumps(
        {"device": dev_name, "torch": torch.__version__, "batch": args.batch, "warmup": warmup, "iters": iters,
         "rows": [asdict(r) for r in rows]}, indent=1))
    print(f"saved {args.out / f'bench_models_{tag}.md'}")


if __name__ == "__main__":
    main()
