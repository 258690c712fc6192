"""Extract the shell commands documented in README.md, docs/*.md and every `--help` text, and run them.

A markdown ```bash block may be preceded by an HTML comment (invisible when rendered) that declares how
the suite runs it; every line is `KIND PREFIX: VALUE`, PREFIX matching the start of a command as written:

    <!-- docs-test
    args geostp forecast: --init 2018-01-01/2018-01-02          extra arguments (small settings) appended
    replace geostp forecast --lead 5d: 2018-01-31 => 2018-01-02   a smaller value for an option given as written
    needs-data geostp data prepare weatherbench: /data/WeatherBench   must stop with one clear line naming VALUE
    skip python3 -m venv: creates the environment the suite runs in   not run, with the reason
    -->

Every other command must succeed as written. Commands run in a fresh directory holding the prepared
workspace (the short sample, a tiny run under runs/, a forecast fc.zarr) with `pipelines/` and `examples/`
linked in. `geostp ...` runs in-process through the real entry point (`geostp.cli.main.main`): a
traceback there is a failure. `accelerate launch [flags] pipelines/train.py ARGS` runs the same entry
point with the one launcher setting the script reads (--mixed_precision, as ACCELERATE_MIXED_PRECISION);
the real launcher is exercised by tests/training/test_launch*.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(?:<!--\s*docs-test\s*\n(?P<directives>.*?)-->\s*\n)?```bash\n(?P<body>.*?)```", re.S)
DIRECTIVE = re.compile(r"^(?P<kind>args|replace|needs-data|skip)\s+(?P<prefix>[^:]+?)\s*:\s*(?P<value>.*)$")
GEOSTP = ("geostp", ".venv/bin/geostp")


@dataclass
class Directive:
    kind: str
    prefix: str
    value: str


@dataclass
class Block:
    """Commands documented together (one markdown block, or one command's --help examples)."""

    where: str
    commands: list[str]
    directives: list[Directive] = field(default_factory=list)

    def directive_for(self, command: str, kind: str) -> Directive | None:
        hits = [d for d in self.directives if d.kind == kind and command.startswith(d.prefix)]
        return max(hits, key=lambda d: len(d.prefix)) if hits else None


def parse_directives(text: str, where: str) -> list[Directive]:
    out = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        m = DIRECTIVE.match(line)
        if not m:
            raise ValueError(f"{where}: unreadable docs-test directive {line!r} (KIND PREFIX: VALUE)")
        out.append(Directive(m["kind"], m["prefix"].strip(), m["value"].strip()))
    return out


def split_commands(body: str) -> list[str]:
    """Commands of a shell block: continuation lines joined, trailing comments dropped, `&&` chains split."""
    text = re.sub(r"\\\n\s*", " ", body)
    out = []
    for line in text.splitlines():
        words: list[str] = []
        for word in line.split():
            if word.startswith("#") and _unquoted_so_far(" ".join(words)):
                break
            words.append(word)
        out.extend(part.strip() for part in " ".join(words).split(" && ") if part.strip())
    return out


def _unquoted_so_far(text: str) -> bool:
    return text.count("'") % 2 == 0 and text.count('"') % 2 == 0


def markdown_blocks() -> list[Block]:
    """Every ```bash block of README.md and docs/*.md with its directives."""
    blocks = []
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            line = text[: m.start("body")].count("\n") + 1
            where = f"{path.relative_to(ROOT)}:{line}"
            directives = parse_directives(m["directives"] or "", where)
            blocks.append(Block(where, split_commands(m["body"]), directives))
    return blocks


def help_examples() -> list[tuple[str, list[str]]]:
    """(command path, example command lines) from the Example(s) section of every `geostp` --help text."""
    from geostp.cli.main import cli

    def walk(cmd: click.Command, path: list[str]):
        yield path, cmd
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), [*path, name])

    out = []
    for path, cmd in walk(cli, ["geostp"]):
        lines, grab = [], False
        for raw in (cmd.help or "").splitlines():
            s = raw.strip()
            if re.match(r"^examples?:$", s, re.I):
                grab = True
                continue
            if grab and s:
                lines.append(s)
        if lines:
            out.append((" ".join(path), split_commands("\n".join(lines))))
    return out


# ------------------------------------------------------------------------------------------- running
@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    traceback: str = ""


def expand(command: str, cwd: Path, env: dict[str, str]) -> tuple[dict[str, str], list[str], str | None]:
    """(leading VAR=value assignments, argv after the shell's own quoting/glob/variable expansion, stdout redirect)."""
    assigns = {}
    rest = command
    while m := re.match(r"^([A-Z_][A-Z0-9_]*)=(\S*)\s+", rest):
        assigns[m[1]] = m[2]
        rest = rest[m.end():]
    redirect = None
    if m := re.search(r"\s>\s*(\S+)\s*$", rest):
        redirect, rest = m[1], rest[: m.start()]
    proc = subprocess.run(["bash", "-c", f'shopt -s nullglob; printf "%s\\0" {rest}'], cwd=cwd,
                          env={**env, **assigns}, capture_output=True, text=True, check=True)
    argv = proc.stdout.split("\0")[:-1]
    return assigns, argv, redirect


def run_geostp(argv: list[str], cwd: Path, env: dict[str, str]) -> Outcome:
    """`geostp ARGS` in this process through the real entry point, in `cwd` with `env`."""
    from geostp.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old_env, old_cwd, old_argv = dict(os.environ), os.getcwd(), sys.argv
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = ["geostp", *argv]
    code, tb = 0, ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # what a user would see as a traceback
                code, tb = 1, traceback.format_exc()
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        os.chdir(old_cwd)
        sys.argv = old_argv
    return Outcome(code, out.getvalue(), err.getvalue(), tb)


def launcher_argv(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """`accelerate launch FLAGS pipelines/train.py ARGS` -> (env the launcher gives the script, geostp argv)."""
    i = next(k for k, a in enumerate(argv) if a.endswith("pipelines/train.py"))
    flags = argv[2:i]
    env = {}
    if "--mixed_precision" in flags:
        env["ACCELERATE_MIXED_PRECISION"] = flags[flags.index("--mixed_precision") + 1]
    return env, ["train", *argv[i + 1:]]


def run_command(command: str, block: Block, cwd: Path, env: dict[str, str]) -> tuple[str, Outcome | None]:
    """Run one documented command as the block declares; returns (what was run, outcome or None if skipped)."""
    if block.directive_for(command, "skip"):
        return command, None
    extra = block.directive_for(command, "args")
    full = command
    swap = block.directive_for(command, "replace")
    if swap:
        old, _, new = swap.value.partition(" => ")
        assert old and old in full, f"{block.where}: `{command}` has no {old!r} to replace"
        full = full.replace(old, new)
    if extra:  # extra arguments go before a trailing `> FILE` redirect
        cut = m.start() if (m := re.search(r"\s>\s*\S+\s*$", full)) else len(full)
        full = f"{full[:cut]} {extra.value}{full[cut:]}"
    assigns, argv, redirect = expand(full, cwd, env)
    env = {**env, **assigns}
    if argv[0].endswith("geostp"):
        outcome = run_geostp(argv[1:], cwd, env)
    elif argv[:2] == ["accelerate", "launch"] and any(a.endswith("pipelines/train.py") for a in argv):
        launch_env, geostp_argv = launcher_argv(argv)
        outcome = run_geostp(geostp_argv, cwd, {**env, **launch_env})
    else:
        raise AssertionError(f"{block.where}: `{command}` is neither a geostp nor an accelerate launch command; "
                             "declare how to run it (`skip PREFIX: reason`)")
    if redirect and outcome.code == 0:
        (cwd / redirect).write_text(outcome.stdout)
    return full, outcome


def check(command: str, ran: str, outcome: Outcome, block: Block) -> None:
    """The documented command did what its block declares: success, or the one clear line of a needs-data command."""
    needs = block.directive_for(command, "needs-data")
    where = f"{block.where}: `{ran}`"
    assert not outcome.traceback, f"{where} ended in a traceback:\n{outcome.traceback[-3000:]}"
    if needs is None:
        assert outcome.code == 0, f"{where} failed (exit {outcome.code}):\n{outcome.stderr[-3000:]}"
        return
    lines = [ln for ln in outcome.stderr.splitlines() if ln.strip() and not ln.startswith("\r")]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert outcome.code == 2 and len(errors) == 1, f"{where} should stop with one clear error line:\n{outcome.stderr[-3000:]}"
    assert needs.value in errors[0], f"{where}: the error does not name {needs.value!r}: {errors[0]}"
    assert "Traceback" not in outcome.stderr and "Usage:" not in outcome.stderr, outcome.stderr
