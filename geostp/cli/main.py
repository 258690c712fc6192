"""Entry point of the `geostp` command; subcommands are imported only when used (fast --help)."""

from __future__ import annotations

import importlib
import sys

import click

# name -> "module:attribute" of a click command or group; add one line per subcommand module.
SUBCOMMANDS = {
    "data": "geostp.cli.data:data",
    "models": "geostp.cli.models:models",
    "train": "geostp.cli.train:train",
    "forecast": "geostp.cli.forecast:forecast",
    "evaluate": "geostp.cli.evaluate:evaluate",
    "plot": "geostp.cli.plot:plot",
    "export": "geostp.cli.export:export",
    "clean": "geostp.cli.clean:clean",
}


class LazyGroup(click.Group):
    """A click group whose subcommands live in their own modules and load on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, attr = SUBCOMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geostp")
def cli() -> None:
    """geostp: spatio-temporal forecasting on gridded data (WeatherBench, TaxiBJ, Moving MNIST, KTH).

    \b
    Start here:
      geostp data sample            build the embedded synthetic WeatherBench-like store
      geostp data info STORE        summarise a store
      geostp models                 list models, presets, parameters and GFLOPs
    """


def main() -> None:
    """Run the CLI, turning geostp's user-facing errors into one clear line and exit code 2."""
    from geostp.errors import GeostpError

    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except GeostpError as exc:
        import os

        # under a launcher, one line from the main process only (a lost peer: from every process still alive)
        if os.environ.get("RANK", "0") == "0" or getattr(exc, "every_rank", False):
            click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


def launched_main(prefix: tuple[str, ...] = ()) -> None:
    """`main` for processes `accelerate launch` starts (python -m geostp, pipelines/train.py): after a geostp
    error (already one line, status 2) the launcher is stopped quietly instead of adding its traceback."""
    sys.argv[1:1] = list(prefix)
    try:
        main()
    except SystemExit as exc:
        if exc.code == 2:
            from geostp.training.launcher import stop_launcher

            stop_launcher()
        raise


if __name__ == "__main__":
    main()

