"""Family knowledge lives in the family objects: no module outside engine/families/ tests a family by its name.

A quoted family id (`"flux"`, `"sdxl"`, `"sd15"`, and any family registered later) in engine/, studio/ and the front
doors (bot/, cli/, web/) may appear only in the family folders and in the few modules that hold the ids as data,
listed in ALLOWED with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.families.registry import FAMILIES

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ("engine", "studio", "bot", "cli", "web")  # web: the HTTP adapter, where it exists
OWN = "engine/families/"
# Modules that hold family ids as data, not as tests: keep this list short, each with its reason.
ALLOWED: dict[str, str] = {
    "engine/presets.py": "the catalog data: each built-in preset states its family, and which preset a family reuses",
    "engine/tiny/models.py": "the built-in test models' table: which family each tiny model belongs to",
}


def _literal() -> re.Pattern[str]:
    names = "|".join(re.escape(name) for name in FAMILIES)
    return re.compile(rf"""(["'])({names})\1""")


def name_literals(root: Path) -> list[str]:
    """`path:line: text` for each quoted family id outside the family folders and ALLOWED."""
    pattern = _literal()
    found = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(OWN) or rel in ALLOWED:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_no_family_name_is_tested_outside_the_family_folders() -> None:
    assert name_literals(ROOT) == [], "ask the family (engine.families.registry.family_of) instead of its name"


def test_the_allow_list_holds_only_places_that_name_families() -> None:
    pattern = _literal()
    for rel in ALLOWED:
        assert pattern.search((ROOT / rel).read_text(encoding="utf-8")), f"{rel} names no family: drop it from ALLOWED"


def test_the_check_finds_a_name_test(tmp_path: Path) -> None:
    (tmp_path / "engine" / "families").mkdir(parents=True)
    (tmp_path / "studio").mkdir()
    (tmp_path / "engine" / "families" / "x.py").write_text('ID = "flux"\n')
    (tmp_path / "studio" / "y.py").write_text("if spec.family == 'sdxl':\n    pass\nfamily = 'sdxl-turbo'\n")
    assert name_literals(tmp_path) == ["studio/y.py:1: if spec.family == 'sdxl':"]
