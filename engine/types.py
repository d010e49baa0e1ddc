"""Typed requests and results of the engine (no torch here: the services may import this module)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.params import GenerationParams

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
class GenerateRequest(GenerationParams):
    """What a caller asks for: the prompt and model, the settings (None: the model's default) and the inputs."""

    prompt: str
    model: str
    loras: tuple[LoraSpec, ...] = ()
    init_image: Any = None  # PIL image, for img2img and inpaint
    mask_image: Any = None  # PIL image, for inpaint: white = change, black = keep
    instruct: bool = False  # the prompt is an instruction for the image (a model that edits by instruction)
    references: tuple[Any, ...] = ()  # more PIL images an instruction edit keeps who is in (Family.max_references)


@dataclass(frozen=True, kw_only=True)
class ResolvedParams(GenerationParams):
    """Every setting of a job made concrete (`aspect` is None: it became width and height): what ran, recorded
    with the images."""

    prompt: str
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
