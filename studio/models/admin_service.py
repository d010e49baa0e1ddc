"""Installing models for an adapter (the web's `POST /api/models`): the checks and words of `studio models add` and
`import-lora`, for the machine's owner only, since a path names a file on this machine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage import Database
from storage.records import ModelRecord
from studio.contract import Caller
from studio.errors import Refused, StudioError
from studio.models.admin import add_base_model, import_lora
from studio.models.api import ModelInfo
from studio.models.service import ModelService
from studio.settings import Settings

OWNER_ONLY = (
    "Only the studio's owner installs models (a path names a file on the studio's machine): sign in with the "
    "studio's access token, or run `studio models add` / `studio models import-lora` there."
)


class ModelAdmin:
    """`ModelAdminApi`: add a base model, import a LoRA file; the catalog's entry for it back."""

    def __init__(self, settings: Settings, db: Database, models: ModelService) -> None:
        self._settings = settings
        self._db = db
        self._models = models

    async def add_base(
        self, caller: Caller, name: str, source: str, family: str, display_name: str | None = None
    ) -> ModelInfo:
        _owner_only(caller)
        record = await add_base_model(self._settings, name, source, family, display_name, db=self._db)
        return await self._listed(record)

    async def import_lora(
        self, caller: Caller, path: str, name: str, base_model: str, trigger_word: str | None = None
    ) -> ModelInfo:
        _owner_only(caller)
        file = await asyncio.to_thread(Path(path).expanduser)
        if not await asyncio.to_thread(file.is_file):  # click's `exists=True, dir_okay=False` at the command line
            raise StudioError(f"{path} is not a file: give the path of a LoRA .safetensors file on this machine.")
        record = await import_lora(self._settings, file, name, base_model, trigger_word, db=self._db)
        return await self._listed(record)

    async def _listed(self, record: ModelRecord) -> ModelInfo:
        for info in await self._models.catalog():
            if info.name == record.name:
                return info
        raise StudioError(f"{record.name} was installed but is not in the catalog: see `studio models list`.")


def _owner_only(caller: Caller) -> None:
    if not caller.bypasses_server_policy:
        raise Refused(OWNER_ONLY)
