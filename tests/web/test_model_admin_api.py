"""`POST /api/models`: the studio's owner installs a base model or imports a LoRA file with the checks and words of
`studio models add` / `import-lora`; a member (their API token) is refused in one line and installs nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
from safetensors.numpy import save_file

from studio.contract import Caller
from tests.web.conftest import Studio, client_for

MEMBER = Caller(user_id=42, guild_id=7, channel_id=3)
SDXL_KEY = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight"  # 2048 wide: SDXL's


def _lora(path: Path, key: str = "unet.down.lora.down.weight", width: int = 2) -> str:
    save_file({key: np.zeros((2, width), dtype=np.float32)}, str(path))
    return str(path)


async def _names(owner: httpx.AsyncClient) -> list[str]:
    return [model["name"] for model in (await owner.get("/api/models")).json()]


async def test_the_owner_adds_a_base_model_and_imports_a_lora(owner: httpx.AsyncClient, tmp_path: Path) -> None:
    folder = tmp_path / "my-base"
    folder.mkdir()
    added = await owner.post("/api/models", json={"kind": "base", "name": "My Base", "source": str(folder),
                                                  "family": "sd15", "display_name": "Mine"})  # fmt: skip
    assert added.status_code == 201, added.text
    assert (added.json()["kind"], added.json()["family"]) == ("base", "sd15")
    body = {"kind": "lora", "name": "Ink", "source": _lora(tmp_path / "ink.safetensors"), "base_model": "tiny-sd"}
    imported = await owner.post("/api/models", json=body | {"trigger_word": "inky"})
    assert imported.status_code == 201, imported.text
    lora = imported.json()
    assert (lora["kind"], lora["base_model"], lora["trigger_word"]) == ("lora", "tiny-sd", "inky")
    names = await _names(owner)
    assert names[0] == lora["name"] and added.json()["name"] in names  # LoRAs first, as the picker lists them
    again = await owner.post("/api/models", json=body)
    assert again.status_code == 409 and "pick another name" in again.json()["detail"]


async def test_bad_input_is_one_line_as_at_the_command_line(owner: httpx.AsyncClient, tmp_path: Path) -> None:
    sdxl = _lora(tmp_path / "xl.safetensors", SDXL_KEY, 2048)
    cases = [
        ({"kind": "base", "name": "m", "source": str(tmp_path / "none.safetensors"), "family": "sd15"},
         "does not exist"),
        ({"kind": "base", "name": "m", "source": str(tmp_path / "w.ckpt"), "family": "sd15"}, "pickle"),
        ({"kind": "base", "name": "m", "source": "org/model"}, "Give the base model's family"),
        ({"kind": "base", "name": "tiny-sd", "source": "org/model", "family": "sd15"}, "already the name"),
        ({"kind": "lora", "name": "l", "source": str(tmp_path / "gone.safetensors"), "base_model": "tiny-sd"},
         "is not a file"),
        ({"kind": "lora", "name": "l", "source": sdxl}, "Give base_model"),
        ({"kind": "lora", "name": "l", "source": sdxl, "base_model": "tiny-sd"}, "looks like a LoRA for sdxl"),
        ({"kind": "lora", "name": "l", "source": sdxl, "base_model": "no-such-model"}, "no-such-model"),
    ]  # fmt: skip
    before = await _names(owner)
    for body, words in cases:
        answer = await owner.post("/api/models", json=body)
        detail = answer.json()["detail"]
        assert answer.status_code in (404, 409, 422) and isinstance(detail, str), (body, answer.text)
        assert words in detail and "\n" not in detail, (body, detail)
    assert await _names(owner) == before


async def test_a_member_installs_nothing(studio: Studio, tmp_path: Path) -> None:
    made = await studio.services.tokens.create(MEMBER, "script")
    lora = _lora(tmp_path / "ink.safetensors")
    async with client_for(studio, Authorization=f"Bearer {made.secret}") as member:
        for body in (
            {"kind": "lora", "name": "Ink", "source": lora, "base_model": "tiny-sd"},
            {"kind": "base", "name": "Mine", "source": str(tmp_path), "family": "sd15"},
        ):
            answer = await member.post("/api/models", json=body)
            assert answer.status_code == 409, answer.text
            assert answer.json()["detail"].startswith("Only the studio's owner installs models")
    catalog = await studio.services.models.catalog()
    assert not {"ink", "mine"} & {info.name.lower() for info in catalog}
    assert not studio.settings.loras_dir.exists() or not any(studio.settings.loras_dir.iterdir())
