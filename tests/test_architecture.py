"""The layers stay apart: no Discord below the adapter, no torch above the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def _offenders(folder: str, banned: set[str]) -> list[str]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"{folder}/ has no Python files: the layout changed"
    return [
        f"{p.relative_to(ROOT)} imports {sorted(_imported_roots(p) & banned)}"
        for p in files
        if _imported_roots(p) & banned
    ]


@pytest.mark.parametrize("folder", ["engine", "storage", "bot/services"])
def test_no_discord_below_the_adapter(folder: str) -> None:
    assert _offenders(folder, {"discord"}) == []


@pytest.mark.parametrize("folder", ["storage", "bot"])
def test_no_torch_above_the_engine(folder: str) -> None:
    assert _offenders(folder, {"torch", "diffusers", "transformers", "peft"}) == []


def test_no_sql_in_cogs() -> None:
    assert _offenders("bot/cogs", {"aiosqlite", "sqlite3", "PIL", "torch"}) == []


def test_checker_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import discord.ext.commands\nfrom torch import nn\nfrom . import x\n", encoding="utf-8")
    assert _imported_roots(sample) == {"discord", "torch"}
