"""Every command's ``--help`` as a newcomer reads it, at 80 columns and piped.

The commands are found by walking the click command tree typer builds, so a command added later
is checked too. A help page rendered narrow must hold exactly the words it holds when rendered
wide (nothing split, folded or cut with an ellipsis); rendered wide, no paragraph line may stop
mid-sentence; no option shows typer's ``<bool>`` / ``<str>`` type labels. A usage error is one
red ``error:`` line, as the README promises, not a boxed panel.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
import typer.main
from typer.testing import CliRunner

from kangaroo.cli import app

pytestmark = pytest.mark.integration

WIDE = 1000
BOX = re.compile(r"[─│╭╮╰╯]")
TYPER_TYPES = re.compile(r"<(?:bool|str|int|float|path|Path|list\[)")


def command_paths(command=None, path=()) -> list[tuple[str, ...]]:
    """``()`` for the root, then every visible command and subcommand, e.g. ``("data", "import")``."""
    command = command or typer.main.get_command(app)
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            paths += command_paths(sub, (*path, name))
    return paths


COMMANDS = command_paths()


def render(path: tuple[str, ...], columns: int | None) -> str:
    """The help page; ``columns=None`` renders it as when piped (no COLUMNS, not a terminal)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": None if columns is None else str(columns)},
                                prog_name="kangaroo", color=False)
    assert result.exit_code == 0, result.output
    return result.output


def words(text: str) -> Counter[str]:
    return Counter(BOX.sub(" ", text).split())


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "kangaroo")
def test_help_at_80_columns_and_piped_splits_no_word(path):
    wide = render(path, WIDE)
    for columns in (80, None):
        narrow = render(path, columns)
        assert max(len(line) for line in narrow.splitlines()) <= 80
        assert words(narrow) == words(wide), (columns, words(narrow) - words(wide), words(wide) - words(narrow))
    assert not TYPER_TYPES.search(wide), TYPER_TYPES.search(wide)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "kangaroo")
def test_help_paragraphs_do_not_break_mid_sentence(path):
    lines = render(path, WIDE).splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    description = lines[start:end]
    for line, following in itertools.pairwise(description):
        # a paragraph line (one space of margin) that continues in lower case after no full stop
        broken = re.search(r"[A-Za-z0-9,]$", line.rstrip()) and re.match(r" [a-z]", following)
        assert not broken, f"{line.strip()!r} / {following.strip()!r}"


def test_root_help_describes_every_command():
    """The opening text names every command (the commands panel alone lists them, it does not
    say what the parts are for)."""
    text = render((), WIDE)
    intro = text[text.index("kangaroo: ") : text.index("╭")]
    missing = [name for name in typer.main.get_command(app).commands if not re.search(rf"\b{name}\b", intro)]
    assert missing == []


def listing(columns: str | None) -> str:
    """``kangaroo eval --list`` in a subprocess (its tables size themselves when imported)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | ({"COLUMNS": columns} if columns else {})
    result = subprocess.run([sys.executable, "-m", "kangaroo.cli", "eval", "--list"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wide_listing() -> str:
    return listing(str(WIDE))


@pytest.mark.parametrize("columns", ["80", None])
def test_eval_list_keeps_task_names_whole(columns, wide_listing):
    """At 80 columns and piped, every task name, title and description word stays whole."""
    from kangaroo.eval.task import builtin_tasks

    narrow = listing(columns)
    assert words(narrow) == words(wide_listing)
    for name in builtin_tasks():
        assert re.search(rf"(?<!\S){name}(?!\S)", narrow), name


@pytest.mark.parametrize(("args", "message"), [
    (("eval", "--task", "synth_mcq"), "no --data-dir for task synth_mcq"),  # the README's promise
    (("probe", "--no-such-option"), "No such option: --no-such-option"),
    (("frames",), "Missing argument 'VIDEO'"),
    (("eval", "--frames", "x", "--task", "synth_mcq", "-d", "d"), "--frames takes integers"),
    (("synth", "--num", "zero"), "Invalid value for '--num'"),
])
def test_usage_errors_are_one_red_line(args, message):
    result = CliRunner().invoke(app, list(args), prog_name="kangaroo")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "--help" in result.stderr
