"""`geostp models`: parameters and forward GFLOPs of every registered model and preset (vs published)."""

from __future__ import annotations

import click


def _fmt_params(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}M" if n >= 1e5 else f"{int(n):,}"


def _fmt_gflops(g: float | None) -> str:
    return "n/a" if g is None else f"{g:.3f}" if g < 1 else f"{g:.2f}"


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    """Render rows as a Markdown table or as aligned plain text."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "-m", "models", multiple=True, metavar="NAME",
              help="Only this model (repeatable), e.g. -m simvpv2 -m convlstm. Default: every registered model.")
@click.option("--preset", "-p", "presets", multiple=True, metavar="NAME",
              help="Only this preset (repeatable), e.g. -p mmnist. Default: every preset of each model.")
@click.option("--published", is_flag=True,
              help="Compare with the published parameter counts: ours, published, difference in %, source.")
@click.option("--no-flops", is_flag=True, help="Skip the FLOP count (parameters only; faster).")
@click.option("--markdown", is_flag=True, help="Print a Markdown table (as in docs/models.md).")
def models(models: tuple[str, ...], presets: tuple[str, ...], published: bool, no_flops: bool, markdown: bool) -> None:
    """List models and presets with parameter counts and forward GFLOPs per sample.

    GFLOPs are counted by torch.utils.flop_counter on one batch-1 forward pass built on the meta device,
    in the papers' convention (1 multiply-add = 1 FLOP; norms and activations not counted). "n/a": the
    counter could not run that model. For SimVP with T_out > T_in the count covers every recursive pass
    (OpenSTL's tables count one).

    \b
    Examples:
      geostp models
      geostp models -m simvpv2 -p mmnist -p taxibj
      geostp models --published --markdown > table.md
    """
    from tqdm import tqdm

    from geostp.models.flops import count_preset

    jobs = _jobs(models, presets)
    counts = [count_preset(n, p, flops=not no_flops)
              for n, p in tqdm(jobs, desc="counting", unit="preset", leave=False, disable=len(jobs) < 4)]
    click.echo(_table(*_rows(counts, published, flops=not no_flops), markdown))


def _jobs(models: tuple[str, ...], presets: tuple[str, ...]) -> list[tuple[str, str]]:
    """(model, preset) pairs selected by --model/--preset; unknown names listed with the known ones."""
    from geostp.errors import UnknownNameError
    from geostp.models import list_models, list_presets

    known_models = list_models()
    for name in models:
        if name not in known_models:
            raise UnknownNameError("model", name, known_models)
    names = list(models) or known_models
    known_presets = sorted({p for n in names for p in list_presets(n)})
    for p in presets:
        if p not in known_presets:
            raise UnknownNameError("preset", p, known_presets)
    return [(n, p) for n in names for p in list_presets(n) if not presets or p in presets]


def _rows(counts: list, published: bool, flops: bool) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the counts table (with the published counts and sources if asked)."""
    if published:
        counts = [c for c in counts if c.published]
        header = ["model", "preset", "params (ours)", "published", "diff %"] + (["GFLOPs (ours)"] if flops else [])
        header.append("source")
        rows = [[c.model, c.preset, f"{c.params:,}", _fmt_params(c.published), f"{c.diff_pct:+.2f}"]
                + ([_fmt_gflops(c.gflops)] if flops else []) + [c.source or "-"] for c in counts]
    else:
        header = ["model", "preset", "params"] + (["GFLOPs/sample"] if flops else [])
        rows = [[c.model, c.preset, _fmt_params(c.params)] + ([_fmt_gflops(c.gflops)] if flops else [])
                for c in counts]
    return header, rows
