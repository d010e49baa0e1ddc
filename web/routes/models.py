"""`GET /api/models`: the base models and LoRAs a prompt can use, trained LoRAs first. `POST /api/models`: install
a base model or a LoRA file from the studio's machine (the owner only), as `studio models add` / `import-lora`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from studio.errors import StudioError
from studio.models.api import MODEL_FAMILIES
from web.deps import Authenticated, Bundle, Who
from web.schemas import ModelOut

router = APIRouter(prefix="/api", tags=["models"], dependencies=Authenticated)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ModelIn(BaseModel):
    kind: Literal["base", "lora"]
    name: Text = Field(description="the name the picker shows (a taken name is refused)")
    source: Text = Field(
        description="base: a diffusers folder, a .safetensors file or a hub id; lora: a .safetensors file's path"
    )
    family: Text | None = Field(None, description=f"base only: one of {', '.join(MODEL_FAMILIES)}")
    display_name: Text | None = Field(None, description="base only")
    base_model: Text | None = Field(None, description="lora only: the base model it was trained on")
    trigger_word: Text | None = Field(None, description="lora only")


@router.get("/models", response_model=list[ModelOut])
async def list_models(bundle: Bundle) -> list[ModelOut]:
    """Every model, trained LoRAs (with their trigger words) before the base models."""
    catalog = await bundle.models.catalog()
    return [ModelOut.of(info) for info in sorted(catalog, key=lambda info: info.kind != "lora")]


@router.post("/models", response_model=ModelOut, status_code=201)
async def add_model(body: ModelIn, bundle: Bundle, caller: Who) -> ModelOut:
    """Install a base model (`kind: base`) or import a LoRA file (`kind: lora`); the studio's owner only."""
    admin = bundle.model_admin
    if body.kind == "base":
        if body.family not in MODEL_FAMILIES:
            raise StudioError(f"Give the base model's family: one of {', '.join(MODEL_FAMILIES)}.")
        info = await admin.add_base(caller, body.name, body.source, body.family, body.display_name)
    else:
        if body.base_model is None:
            raise StudioError("Give base_model: the base model the LoRA was trained on (GET /api/models lists them).")
        info = await admin.import_lora(caller, body.source, body.name, body.base_model, body.trigger_word)
    return ModelOut.of(info)
