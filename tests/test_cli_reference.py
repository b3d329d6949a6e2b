"""One convention for the CLI, checked on every command: docs/cli.md is current, every
command has an example, prints JSON when it prints records, and names files the same way."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import click
import pytest

from edge.cli.main import COMMANDS, cli
from edge.cli.reference import commands, reference, top_context

ROOT = Path(__file__).resolve().parent.parent
TOP = top_context(cli)
LEAVES = {
    ctx.command_path: (ctx, cmd)
    for ctx, cmd in commands(cli, TOP)
    if not isinstance(cmd, click.Group)
}
NO_JSON = {
    "mallsense run": "the daemon: it logs, it prints no records",
    "mallsense install": "changes the system, step by step in words",
    "mallsense demo": "prints its own figures beside the truth; its records are in the database",
    "mallsense keygen": "prints one key",
    "mallsense config schema": "prints a JSON Schema already",
    "mallsense config upgrade": "rewrites a file (a diff with --dry-run)",
    "mallsense contract export": "writes documents",
    "mallsense contract check": "checks the generated documents",
    "mallsense pos capture": "records a line to a file",
    "mallsense ble record": "records adverts to a file",
    "mallsense camera snapshot": "writes a picture",
}
"""Commands without --json, and why: none of them prints records or results to parse."""


def test_docs_cli_md_is_the_commands_help() -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == reference(cli), "run: python -m edge.cli.reference > docs/cli.md"


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_every_command_has_an_example(path: str) -> None:
    ctx, command = LEAVES[path]
    assert "Example" in command.get_help(ctx), f"{path} --help has no example"


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_every_command_that_prints_results_has_json(path: str) -> None:
    _, command = LEAVES[path]
    has_json = any("--json" in getattr(p, "opts", ()) for p in command.params)
    assert has_json or path in NO_JSON, f"{path} has no --json and no reason in NO_JSON"
    assert not (has_json and path in NO_JSON), f"{path} has --json now: drop it from NO_JSON"


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_files_are_named_the_same_way(path: str) -> None:
    ctx, command = LEAVES[path]
    for param in command.params:
        if "--config" in getattr(param, "opts", ()) or "--db" in getattr(param, "opts", ()):
            assert param.make_metavar(ctx) == "PATH", f"{path} {param.opts}"


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_every_option_says_what_it_does(path: str) -> None:
    _, command = LEAVES[path]
    silent = [
        p.opts[0]
        for p in command.params
        if isinstance(p, click.Option)
        and not p.help
        and not p.hidden
        and p.opts[0] not in ("--help", "-h")
    ]
    assert not silent, f"{path}: {silent} have no help text"


def test_each_command_is_listed_with_the_modules_that_add_it() -> None:
    for name, modules in COMMANDS.items():
        group = click.Group()
        for module in modules:
            importlib.import_module(f"edge.cli.{module}").register(group)
        assert name in group.commands, (name, modules)
    every = click.Group()
    for module in {m for modules in COMMANDS.values() for m in modules}:
        importlib.import_module(f"edge.cli.{module}").register(every)
    assert set(every.commands) == set(COMMANDS)  # no command left out of the table


def test_a_service_loads_its_own_command_and_not_the_rest_of_the_cli() -> None:
    """The daemon and the sync agent run for months: they hold only what they use."""
    check = (
        "import sys; from edge.cli.main import cli; from edge.cli.reference import top_context;"
        " cli.get_command(top_context(cli), sys.argv[1]);"
        " print(' '.join(m for m in sys.modules if m.startswith('edge.cli.')))"
    )
    for service in ("run", "sync"):
        done = subprocess.run(
            [sys.executable, "-c", check, service], capture_output=True, text=True, check=True
        )
        loaded = {m.removeprefix("edge.cli.") for m in done.stdout.split()}
        assert f"{service}_cmd" in loaded, loaded
        assert not loaded & {"pos_cmd", "camera_cmd", "report_cmd", "demo_cmd"}, loaded
