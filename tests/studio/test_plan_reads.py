"""The stored training plan is read through `StoredPlan` only: no module outside studio/training/plans.py reads the
plan's JSON by key (`plan[...]`, `plan.get(...)`, `["config"]`, SQL's `json_*(plan, ...)` or `$.items`).

A new value of the plan is a typed field of `StoredPlan`; its readers use the attribute.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("studio", "storage", "engine", "bot", "cli", "web", "scripts")
OWN = "studio/training/plans.py"
KEY_READ = re.compile(
    r"""\bplan(\[|\.get\()"""  # plan["config"], run.plan.get("worker")
    r"""|\[["']config["']\]|\.get\(["']config["']"""  # ["config"], .get("config", {})
    r"""|\$\.items|\bjson_\w+\(\s*(\w+\.)?plan\b"""  # storage reaching into the JSON
)
# Lines that match but read no plan: (path, the line stripped) → why.
ALLOWED: dict[tuple[str, str], str] = {
    ("storage/repos/models.py", 'config=json_from_db(row["config"]),'): "the models table's own config column",
}


def key_reads(root: Path) -> list[str]:
    """`path:line: text` for each read of a plan by key outside OWN and ALLOWED."""
    found = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel == OWN:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if KEY_READ.search(line) and (rel, line.strip()) not in ALLOWED:
                    found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_no_module_reads_the_stored_plan_by_key() -> None:
    assert key_reads(ROOT) == [], "read the plan through StoredPlan.from_json(run.plan) and its fields"


def test_the_allow_list_holds_only_lines_that_exist() -> None:
    for (rel, line), _why in ALLOWED.items():
        lines = {text.strip() for text in (ROOT / rel).read_text(encoding="utf-8").splitlines()}
        assert line in lines, f"{rel} no longer has {line!r}: drop it from ALLOWED"


def test_the_check_finds_each_kind_of_key_read(tmp_path: Path) -> None:
    (tmp_path / "studio" / "training").mkdir(parents=True)
    (tmp_path / "storage").mkdir()
    (tmp_path / "studio" / "training" / "plans.py").write_text('steps = data["config"]["steps"]\n')
    (tmp_path / "studio" / "a.py").write_text(
        'steps = run.plan["config"]["steps"]\n'
        'worker = plan.get("worker")\n'
        'steps = values.get("config", {})\n'
        "plan_view(run)\nrun.plan\nanswer['run_id']\n"
    )
    (tmp_path / "storage" / "b.py").write_text(
        "SQL = \"UPDATE training_runs SET plan = json_set(plan, '$.items', json('[]'))\"\n"
        "OTHER = \"SELECT json_extract(r.plan, '$.v') FROM training_runs r\"\n"
    )
    assert key_reads(tmp_path) == [
        'studio/a.py:1: steps = run.plan["config"]["steps"]',
        'studio/a.py:2: worker = plan.get("worker")',
        'studio/a.py:3: steps = values.get("config", {})',
        "storage/b.py:1: SQL = \"UPDATE training_runs SET plan = json_set(plan, '$.items', json('[]'))\"",
        "storage/b.py:2: OTHER = \"SELECT json_extract(r.plan, '$.v') FROM training_runs r\"",
    ]
