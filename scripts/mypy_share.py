"""The share of the project's lines that mypy checks: lines in the files `[tool.mypy] files` names (folders
walked) over the lines of every .py file in the project's packages (tests and scripts left out).

Usage: `python scripts/mypy_share.py` from the repository root.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("studio", "bot", "cli", "engine", "storage")


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _py_files(entry: Path) -> set[Path]:
    return set(entry.rglob("*.py")) if entry.is_dir() else {entry}


def main() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    checked = set().union(*(_py_files(ROOT / entry) for entry in config["tool"]["mypy"]["files"]))
    project = set().union(*(_py_files(ROOT / package) for package in PACKAGES))
    covered, total = sum(_lines(p) for p in checked & project), sum(_lines(p) for p in project)
    print(f"mypy checks {covered} of {total} lines ({covered / total:.0%}) in {len(checked & project)} files")


if __name__ == "__main__":
    main()
