"""The package keeps the map of docs/architecture.md: imports only point down the stages, and
no soralite module imports another inside a function."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "soralite"


def stage_ranks(doc: Path = ROOT / "docs" / "architecture.md") -> dict[str, int]:
    """Module or subpackage name -> rank, from the rows `| rank | stage | modules | ...`."""
    ranks = {}
    for rank, modules in re.findall(r"^\| (\d+) \| \w+ \| ([^|]+) \|", doc.read_text(), re.M):
        for name in re.findall(r"`(\w+)`", modules):
            ranks[name] = int(rank)
    return ranks


def soralite_imports(tree: ast.AST):
    """(line, imported soralite top-level name, inside a function?) for every import of soralite."""
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inner = {id(x) for f in funcs for x in ast.walk(f)}
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "soralite":
                sub = parts[1] if len(parts) > 1 else None
                if sub is None and isinstance(node, ast.ImportFrom):   # from soralite import x
                    for alias in node.names:
                        yield node.lineno, alias.name, id(node) in inner
                else:
                    yield node.lineno, sub or "__init__", id(node) in inner


def violations(package: Path = PACKAGE, ranks: dict[str, int] | None = None) -> list[str]:
    ranks = ranks or stage_ranks()
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        own = rel.parts[0].removesuffix(".py")
        if own not in ranks:
            found.append(f"{rel}: belongs to no stage of docs/architecture.md")
            continue
        for line, name, in_function in soralite_imports(ast.parse(path.read_text())):
            if in_function:
                found.append(f"{rel}:{line}: imports soralite.{name} inside a function")
            elif ranks.get(name, -1) > ranks[own]:
                found.append(f"{rel}:{line}: {own} (stage {ranks[own]}) imports {name} "
                             f"(stage {ranks.get(name)}), a stage above it")
    return found


def test_every_import_points_down_the_stages():
    assert stage_ranks()["world"] < stage_ranks()["models"] < stage_ranks()["train"]
    assert violations() == []


def test_a_planted_upward_import_is_caught(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "bad.py").write_text("from soralite.train import train\n")
    (tmp_path / "world.py").write_text("def f():\n    from soralite.config import Config\n")
    (tmp_path / "stray.py").write_text("")
    found = violations(tmp_path)
    assert any("models (stage 2) imports train (stage 7)" in v for v in found)
    assert any("inside a function" in v for v in found)
    assert any("stray.py: belongs to no stage" in v for v in found)


@pytest.mark.parametrize("module", ["soralite", "soralite.pipeline"])
def test_inference_loads_no_training_code(module):
    import subprocess
    import sys

    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m.startswith('soralite.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
