"""docs/errors.md quotes what the kit answers; here every quoted settings message is produced
again, so that a changed message fails here instead of leaving the page stale."""
import re
from pathlib import Path

import pytest

from soralite.config import get_config

ERRORS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def settings_rows():
    """(override, quoted message) for each row of the Settings table that sets one key."""
    text = ERRORS.read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        first = re.fullmatch(r"`--set ([^`]+)`(?: \(.*\))?", cells[0])
        quoted = re.fullmatch(r"`([^`]+)`", cells[1])
        if first and quoted and "cuda" not in first.group(1):
            override = first.group(1).strip("'")
            rows.append((override, quoted.group(1)))
    return rows


def as_pattern(quoted: str) -> str:
    """A quoted message as a regex: '...' where the page cuts it matches anything."""
    return ".*".join(re.escape(part) for part in quoted.split("..."))


ROWS = settings_rows()


def test_the_page_quotes_many_settings():
    assert len(ROWS) >= 30


@pytest.mark.parametrize("override,quoted", ROWS, ids=[r[0] for r in ROWS])
def test_each_quoted_settings_message_is_what_the_kit_says(override, quoted):
    with pytest.raises(ValueError) as err:
        get_config("smoke", [override])
    assert re.fullmatch(as_pattern(quoted), str(err.value), flags=re.S), \
        f"docs/errors.md quotes\n  {quoted}\nbut --set {override} now answers\n  {err.value}"


# ---------------------------------------------------------------------------------------------
# The README's commands exist, with the options it gives them

README = ERRORS.parents[1] / "README.md"


def readme_commands():
    """(subcommand, options) for each `soralite COMMAND ...` line in the README's code blocks."""
    lines, fence = [], None
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
        elif fence in ("", "bash"):
            lines.append(line.split("#", 1)[0])                      # the command, not its comment
    found = []
    for line in lines:
        for m in re.finditer(r"soralite(?:\.cli)? ([a-z][a-z-]+)((?: [^&|;]*)?)", line):
            found.append((m.group(1), tuple(re.findall(r"(--[a-z][a-z-]*)", m.group(2)))))
    return found


def test_every_readme_command_and_option_is_the_kits():
    from soralite.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    commands = readme_commands()
    assert len(commands) > 30
    for name, options in commands:
        assert name in sub.choices, f"the README runs `soralite {name}`, which is no command"
        known = {s for a in sub.choices[name]._actions for s in a.option_strings}
        for option in options:
            assert option in known, f"the README gives `soralite {name}` the option {option}, which it has not"
