"""`GET /api/models`: the base models and LoRAs a prompt can use, trained LoRAs first."""

from __future__ import annotations

from fastapi import APIRouter

from web.deps import Authenticated, Bundle
from web.schemas import ModelOut

router = APIRouter(prefix="/api", tags=["models"], dependencies=Authenticated)


@router.get("/models", response_model=list[ModelOut])
async def list_models(bundle: Bundle) -> list[ModelOut]:
    """Every model, trained LoRAs (with their trigger words) before the base models."""
    catalog = await bundle.models.catalog()
    return [ModelOut.of(info) for info in sorted(catalog, key=lambda info: info.kind != "lora")]
