"""The course keeps its promises to a teacher: every chapter ends with exercises, each tagged by
what it costs, and a solutions notebook answers each one in its own section."""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
COST = re.compile(r"\(\*[^*]*\b(seconds|minutes|retrains)\b")


def markdown(notebook: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
            if c["cell_type"] == "markdown"]


def exercises(chapter: Path) -> dict[int, str]:
    """Exercise number -> its first line, from the chapter's "## Exercises" cell."""
    cell = next(m for m in markdown(chapter) if "## Exercises" in m)
    part = cell[cell.index("## Exercises"):]
    return {int(n): line for n, line in re.findall(r"^(\d+)\. (.*)$", part, flags=re.M)}


def test_the_course_has_its_fifteen_chapters():
    assert [c.name[:2] for c in CHAPTERS] == [f"{i:02d}" for i in range(15)]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_cost_and_a_solution(chapter):
    found = exercises(chapter)
    assert found and sorted(found) == list(range(1, len(found) + 1)), f"{chapter.name}: exercises {sorted(found)}"
    untagged = [n for n, line in found.items() if not COST.search(line)]
    assert not untagged, f"{chapter.name}: exercises {untagged} have no cost tag (seconds, minutes or retrains)"
    solutions = NOTEBOOKS / "solutions" / f"{chapter.stem}_solutions.ipynb"
    assert solutions.exists(), f"no {solutions.relative_to(NOTEBOOKS.parent)}"
    answered = {int(n) for m in markdown(solutions) for n in re.findall(r"^## (\d+) ·", m, flags=re.M)}
    assert answered >= set(found), f"{solutions.name} answers {sorted(answered)}, not every one of {sorted(found)}"
