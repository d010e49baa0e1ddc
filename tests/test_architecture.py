"""The layers stay apart, read from every import of the project's own modules.

The layers, after the move of issue 20 (the core left the Discord package for `studio/`):

- `storage` imports nothing of the project but itself;
- `engine` imports nothing of the project but itself;
- the core (`studio/`, settings and background tasks included) imports itself, `storage` and the engine's face
  (`from engine import WorkOrder`: `engine` itself, never `engine.x`), never an adapter, `discord`, `click` or
  an HTTP framework, and importing it loads no torch;
- the engine's own modules import each other by full path, never through the face at import time (a cycle);
- importing the engine's face (`import engine`) loads no torch and no PIL: the modules that run a model or draw
  import them;
- the adapters (`bot/`, the Discord adapter: cogs, ui, client, runner, delivery; `cli/`, the command line)
  import the core, never `engine` or `storage` directly, but for the pairs in `ADAPTER_DEBT`, which only
  shrinks; the CLI may use the bot's runner (`studio run`), the bot never imports the CLI;
- the Discord adapter sees the core only through its face (`BOT_FACE`): the contract, the bundle, the feature
  `api` modules and a short list of shared vocabulary; only its composition root (`bot.runner`) opens the
  services (`studio.container`);
- the web adapter (`web/`) likewise, with `web.runner` as its root; it never imports the bot or the CLI, and they
  reach it only from their entry points (`bot.runner`, the `studio web` command).

Every import counts: absolute, relative (resolved against its package), inside a function (lazy) and under
`if TYPE_CHECKING`. A typing-only import still ties one package's vocabulary to another's, so it counts for
the layering; it costs nothing at run time, so the torch check runs the real import in a subprocess instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture_graph import Edge, project_modules, read_imports

ROOT = Path(__file__).resolve().parent.parent

# Longest prefix wins.
LAYERS = {
    "storage": "storage",
    "engine": "engine",
    "studio": "core",
    "bot": "adapter",
    "cli": "adapter",
    "web": "adapter",
}

# The project layers each layer may import; an adapter reaching engine/storage is checked against ADAPTER_DEBT.
MAY_IMPORT = {
    "storage": {"storage"},
    "engine": {"engine"},
    "core": {"core", "engine", "storage"},
    "adapter": {"adapter", "core"},
}

# The one engine module the core may import: the public face, engine/__init__.py.
ENGINE_FACE = "engine"

# (importer, imported, why): adapters that stay apart although both are in the adapter layer.
APART = [
    ("bot", "cli", "the Discord adapter does not import the command line"),
    ("web", "bot", "the web adapter does not import the Discord adapter"),
    ("web", "cli", "the web adapter does not import the command line"),
]
# The modules of the other adapters that may start the web: (module prefix, why).
WEB_ENTRIES = {
    "bot.runner": "`studio run` serves the web beside the bot (STUDIO_WEB_PORT)",
    "cli.commands.web_cmd": "`studio web` serves it alone",
}

DISCORD = {"discord"}
CLICK = {"click"}
HTTP = {"fastapi", "starlette", "aiohttp.web", "flask", "uvicorn"}
TORCH = {"torch", "diffusers", "transformers", "peft"}
IMAGES = {"PIL"}

# (scope: a layer or a dotted module prefix, third-party modules it never imports, why)
THIRD_PARTY_BANS = [
    ("storage", DISCORD | CLICK | HTTP | TORCH, "storage is plain SQLite"),
    ("engine", DISCORD | CLICK | HTTP, "the engine knows no front door"),
    ("core", DISCORD | CLICK | HTTP, "the core serves every front door"),
    ("core", TORCH, "no torch above the engine"),
    ("adapter", TORCH, "no torch above the engine"),
    ("bot.cogs", {"aiosqlite", "sqlite3", "PIL"}, "a cog talks to services, not to SQL or pixels"),
]

# Adapter -> engine/storage imports still allowed, each with its reason. Empty since issue 20: the adapters reach
# the engine and storage through the core. The test fails on a pair not listed here, and on a listed pair that no
# longer occurs, so the table can only shrink back to empty.
ADAPTER_DEBT: dict[tuple[str, str], str] = {}


# The core modules the Discord adapter may import besides `studio.contract`, `studio.bundle` and the feature APIs
# (`studio.<feature>.api`, `studio.<name>_api`): (module, why).
BOT_VOCABULARY = {
    "studio.errors": "the errors the services raise, with their wording for users",
    "studio.settings": "the settings the bot is built from",
    "studio.logging_setup": "the logging its entry point (`python -m bot`) sets up, as `studio` does",
    "studio.background": "the bot's own background tasks",
    "studio.names": "how names compare and become file-safe, shared by the views and the services",
    "studio.training.results": "training's deliverables and checkpoint cards, rendered by the adapter",
    "studio.training.pace": "the ETA range the training view shows before a run",
}
# The adapter's composition root: it opens the services and wires the delivery port, so it may import any of the core.
BOT_ROOTS = {"bot.runner"}
# The web adapter's composition root, as `bot.runner` is the bot's.
WEB_ROOTS = {"web.runner"}


def _layer(name: str) -> str | None:
    matches = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def _within(name: str, prefixes: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _in_scope(name: str, scope: str) -> bool:
    return _layer(name) == scope if scope in MAY_IMPORT else _within(name, {scope})


def _layer_violations(edges: list[Edge]) -> list[str]:
    """Project imports that cross a layer the table forbids (adapter debt is judged apart)."""
    bad = []
    for edge in edges:
        source, target = _layer(edge.source), _layer(edge.target)
        if any(_within(edge.source, {a}) and _within(edge.target, {b}) for a, b, _ in APART):
            bad.append(str(edge))
            continue
        if target is None or source is None or target in MAY_IMPORT[source]:
            continue
        if source == "adapter" and target in ("engine", "storage"):
            continue
        bad.append(str(edge))
    return bad


def _engine_face_violations(edges: list[Edge]) -> list[str]:
    """The core reaching past the engine's face, and engine modules importing the face as they load."""
    return [
        str(edge)
        for edge in edges
        if (_layer(edge.source) == "core" and _layer(edge.target) == "engine" and edge.target != ENGINE_FACE)
        or (_layer(edge.source) == "engine" and edge.target == ENGINE_FACE and edge.how == "top")
    ]


def _is_core_face(name: str) -> bool:
    parts = name.split(".")
    return (
        name in ("studio.contract", "studio.bundle")
        or name in BOT_VOCABULARY
        or (parts[0] == "studio" and (parts[-1] == "api" or parts[-1].endswith("_api")))
    )


def _bot_face_violations(edges: list[Edge]) -> list[str]:
    """Imports of the core by the Discord adapter that go past its face (the composition root excepted)."""
    return [
        str(edge)
        for edge in edges
        if _within(edge.source, {"bot"})
        and not _within(edge.source, BOT_ROOTS)
        and _layer(edge.target) == "core"
        and not _is_core_face(edge.target)
    ]


def _web_face_violations(edges: list[Edge]) -> list[str]:
    """Imports of the core by the web adapter past its face (the same face as the bot's; its root excepted)."""
    return [
        str(edge)
        for edge in edges
        if _within(edge.source, {"web"})
        and not _within(edge.source, WEB_ROOTS)
        and _layer(edge.target) == "core"
        and not _is_core_face(edge.target)
    ]


def _web_entry_violations(edges: list[Edge]) -> list[str]:
    """The bot or the CLI importing the web anywhere but from their entry points (`WEB_ENTRIES`)."""
    return [
        str(edge)
        for edge in edges
        if _within(edge.target, {"web"})
        and _within(edge.source, {"bot", "cli"})
        and not _within(edge.source, set(WEB_ENTRIES))
    ]


def _third_party_violations(edges: list[Edge]) -> list[str]:
    return [
        f"{edge} - {why}"
        for scope, banned, why in THIRD_PARTY_BANS
        for edge in edges
        if _in_scope(edge.source, scope) and _within(edge.target, banned)
    ]


def _adapter_reach(edges: list[Edge]) -> dict[tuple[str, str], Edge]:
    """Each (adapter module, engine/storage module) pair that occurs, with its first occurrence."""
    pairs: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        if _layer(edge.source) == "adapter" and _layer(edge.target) in ("engine", "storage"):
            pairs.setdefault((edge.source, edge.target), edge)
    return pairs


def _debt_drift(edges: list[Edge], debt: dict[tuple[str, str], str]) -> tuple[list[str], list[str]]:
    """(new adapter -> engine/storage imports, allowlisted pairs that no longer occur)."""
    reach = _adapter_reach(edges)
    new = [str(edge) for pair, edge in sorted(reach.items()) if pair not in debt]
    gone = [f"{src} -> {dst}" for src, dst in sorted(debt) if (src, dst) not in reach]
    return new, gone


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    found = read_imports(ROOT)
    assert len({e.source for e in found}) > 100, "too few modules import anything: the layout changed"
    return found


def test_every_module_has_a_layer() -> None:
    assert [name for name in project_modules(ROOT) if _layer(name) is None] == []
    for layer in ("storage", "engine", "core", "adapter"):
        assert any(_layer(name) == layer for name in project_modules(ROOT)), f"no module is in the {layer} layer"


def test_project_imports_follow_the_layers(edges: list[Edge]) -> None:
    assert _layer_violations(edges) == []


def test_the_core_sees_only_the_engine_face(edges: list[Edge]) -> None:
    assert _engine_face_violations(edges) == [], "import it as `from engine import …`; add it to engine/__init__.py"
    assert any(_layer(e.source) == "core" and e.target == ENGINE_FACE for e in edges)


def test_the_discord_adapter_sees_only_the_core_face(edges: list[Edge]) -> None:
    assert _bot_face_violations(edges) == [], "import it from studio.contract, studio.bundle or a feature's api"
    assert any(_within(e.source, BOT_ROOTS) and e.target == "studio.container" for e in edges)


def test_the_web_adapter_sees_only_the_core_face(edges: list[Edge]) -> None:
    assert _web_face_violations(edges) == [], "import it from studio.contract, studio.bundle or a feature's api"
    assert any(_within(e.source, WEB_ROOTS) and e.target == "studio.container" for e in edges)


def test_the_bot_and_the_cli_start_the_web_only_from_their_entry_points(edges: list[Edge]) -> None:
    assert _web_entry_violations(edges) == []
    assert {e.source for e in edges if _within(e.target, {"web"}) and _layer(e.source) == "adapter"} - {
        e.source for e in edges if _within(e.source, {"web"})
    } <= set(WEB_ENTRIES)


def test_the_contract_names_no_feature(edges: list[Edge]) -> None:
    # Deliverable is an open base class: features subclass it, adapters render it by type (bot.delivery.RENDERERS).
    assert [str(e) for e in edges if e.source == "studio.contract" and _layer(e.target) is not None] == []


def test_third_party_imports_stay_in_their_layer(edges: list[Edge]) -> None:
    assert _third_party_violations(edges) == []


def test_adapters_reach_engine_and_storage_only_through_listed_debt(edges: list[Edge]) -> None:
    new, gone = _debt_drift(edges, ADAPTER_DEBT)
    assert new == [], "an adapter imports engine/storage directly: go through the core (studio)"
    assert gone == [], "paid off: delete these pairs from ADAPTER_DEBT so the list only shrinks"


_IMPORT_CORE = """
import importlib, json, pkgutil, sys
heavy = {heavy!r}
import engine
loaded = {{"engine face": sorted(m for m in {engine_heavy!r} if m in sys.modules)}}
import studio.container
loaded["container"] = sorted(m for m in heavy if m in sys.modules)
import studio
for name in [m.name for m in pkgutil.walk_packages(studio.__path__, "studio.")]:
    importlib.import_module(name)
loaded["every core module"] = sorted(m for m in heavy if m in sys.modules)
print(json.dumps(loaded))
"""


def _loaded_by_the_core(root: Path) -> dict[str, list[str]]:
    """Which of torch & co. and the front doors' libraries importing the core under `root` loads; and which of torch
    & co. and PIL `import engine` alone loads (the face every layer imports)."""
    # A fresh interpreter: this test session may have imported torch already. `-c` puts `root` first on the path.
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            _IMPORT_CORE.format(heavy=sorted(TORCH | DISCORD | CLICK | HTTP), engine_heavy=sorted(TORCH | IMAGES)),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    loaded: dict[str, list[str]] = json.loads(run.stdout.splitlines()[-1])
    return loaded


def test_importing_the_engine_or_the_core_loads_no_torch_no_pil_and_no_front_door() -> None:
    # This catches what the static check cannot: torch pulled in by an engine module the core imports.
    assert _loaded_by_the_core(ROOT) == {"engine face": [], "container": [], "every core module": []}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_guard_fails_on_a_violation(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "storage/__init__.py": "",
            "storage/db.py": "from . import repos\n\ndef f():\n    import engine.work\n",
            "storage/repos/__init__.py": "import typing\nif typing.TYPE_CHECKING:\n    from studio import settings\n",
            "engine/__init__.py": "from engine.work import WorkOrder\n",
            "engine/work.py": "from engine import catalog\nfrom storage.db import f\n",
            "engine/catalog.py": "ASPECTS = []\n",
            "engine/host.py": "from engine import WorkOrder\n\ndef run():\n    import engine\n",
            "bot/__init__.py": "",
            "bot/runner.py": "def run():\n    from cli.main import ASPECTS\n    from studio import container\n",
            "bot/cogs/generate.py": "from studio.images import api\nimport studio.contract\nimport studio.container\n",
            "cli/main.py": "from engine.catalog import ASPECTS\nimport engine.work\n",
            "cli/commands/gen_cmd.py": "from ..main import ASPECTS\n",
            "studio/__init__.py": "",
            "studio/settings.py": "",
            "studio/contract.py": "",
            "studio/images/api.py": "from engine import WorkOrder\n",
            "studio/api.py": "from cli import main\nfrom . import container\nimport discord\n",
            "studio/container.py": "from storage import db\nfrom engine import work\nfrom aiohttp import web\n",
        },
    )
    edges = read_imports(tmp_path)
    assert Edge("studio.api", "studio.container", 2, "top") in edges  # `from . import container`
    assert Edge("cli.commands.gen_cmd", "cli.main", 1, "top") in edges  # `from ..main import ASPECTS`
    assert _layer_violations(edges) == [
        "studio.api:1 imports cli.main (top)",
        "bot.runner:2 imports cli.main (lazy)",
        "engine.work:2 imports storage.db (top)",
        "storage.db:4 imports engine.work (lazy)",
        "storage.repos:3 imports studio.settings (typing)",
    ]
    assert _third_party_violations(edges) == [
        "studio.api:3 imports discord (top) - the core serves every front door",
        "studio.container:3 imports aiohttp.web (top) - the core serves every front door",
    ]
    assert _bot_face_violations(edges) == ["bot.cogs.generate:3 imports studio.container (top)"]
    assert _engine_face_violations(edges) == [
        "studio.container:2 imports engine.work (top)",
        "engine.host:1 imports engine (top)",
    ]
    debt = {("cli.main", "engine.catalog"): "constants", ("cli.main", "storage.db"): "paid off"}
    assert _debt_drift(edges, debt) == (["cli.main:2 imports engine.work (top)"], ["cli.main -> storage.db"])


def test_the_import_check_sees_torch_pulled_in_through_the_engine(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "torch/__init__.py": "",  # shadows the real one: the subprocess finds tmp_path first
            "PIL/__init__.py": "",
            "engine/__init__.py": "from engine.presets import PRESETS\n",
            "engine/presets.py": "import PIL\nPRESETS = ()\n",  # a preset's prompts from a module that draws
            "engine/work.py": "import torch\n",
            "studio/__init__.py": "",
            "studio/settings.py": "",
            "studio/background.py": "",
            "studio/container.py": "",
            "studio/api.py": "from engine import work\n",
        },
    )
    assert _loaded_by_the_core(tmp_path) == {"engine face": ["PIL"], "container": [], "every core module": ["torch"]}
