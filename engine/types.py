"""Typed requests and results of the engine (no torch here: the services may import this module)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from PIL import Image

# instruct: FLUX.1 Kontext changes the image as the prompt says (an instruction), keeping who and what is in it.
Mode = Literal["txt2img", "img2img", "inpaint", "instruct"]


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA to apply: `name` is its catalog name (slugged before it reaches the filesystem)."""

    name: str
    path: Path | str
    family: str
    scale: float = 1.0


@dataclass(frozen=True)
class GenerateRequest:
    """What a caller asks for; None means 'the model's default'."""

    prompt: str
    model: str
    negative_prompt: str = ""
    count: int = 4
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    aspect: str | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    loras: tuple[LoraSpec, ...] = ()
    init_image: Any = None  # PIL image, for img2img and inpaint
    strength: float | None = None
    mask_image: Any = None  # PIL image, for inpaint: white = change, black = keep
    instruct: bool = False  # the prompt is an instruction for the image (a model that edits by instruction)
    references: tuple[Any, ...] = ()  # more PIL images an instruction edit keeps who is in (Family.max_references)


@dataclass(frozen=True)
class ResolvedParams:
    """Every parameter of a job made concrete: what ran, recorded with the images."""

    prompt: str
    negative_prompt: str
    model: str
    family: str
    count: int
    seed: int
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str
    loras: tuple[tuple[str, float], ...]
    mode: Mode
    strength: float | None

    def seed_for(self, index: int) -> int:
        """Image `index` of the job uses seed + index, so any one image can be made again alone."""
        return self.seed + index


@dataclass(frozen=True)
class GeneratedImage:
    index: int
    seed: int
    image: Image.Image


@dataclass(frozen=True)
class GenerateResult:
    params: ResolvedParams
    images: tuple[GeneratedImage, ...]
    elapsed_s: float
