"""LoRA adapters: load files as named peft adapters, keep recent ones resident, switch them per request.

Both the diffusers layout (`unet.….lora.down.weight`) and the kohya layout (`lora_unet_…lora_down.weight`
plus `.alpha`) load through `load_lora_weights`. Files are safetensors only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.diffusion.loading import refuse_pickle
from engine.errors import InvalidRequest, ModelUnavailable
from engine.families.registry import denoiser, denoiser_name, family_of
from engine.types import LoraSpec

log = logging.getLogger(__name__)

DEFAULT_LORA_BUDGET_BYTES = 1 << 30


@contextlib.contextmanager
def peft_as_intended() -> Iterator[None]:
    """Silence peft's warnings about what the engine does on purpose: several named adapters in one model (LoRAs
    and a training's), and another adapter made active when one is deleted (set_adapters decides that per job)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        warnings.filterwarnings("ignore", message="Adapter .* was active which is now deleted")
        yield


def adapter_slug(name: str) -> str:
    """A safe identifier made of lowercase letters, digits and underscores (peft adapter names become attributes)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug[:48] or "lora"


def adapter_name(spec: LoraSpec) -> str:
    """Adapter name for a LoRA file: its slug plus a digest of the file's identity, so a replaced file reloads."""
    path = Path(spec.path).expanduser().resolve()
    stat = path.stat()
    digest = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:8]
    return f"{adapter_slug(spec.name)}_{digest}"


def _header(data: bytes) -> dict[str, str]:
    """A safetensors file's `__metadata__` (the 8-byte length, then the JSON header)."""
    import json
    import struct

    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]).get("__metadata__") or {}


def one_key_style(state: dict[str, Any]) -> dict[str, Any]:
    """Rename a diffusers file's old-style keys (`….lora.down.weight`) to peft's (`….lora_A.weight`) when both mix.

    diffusers writes attention layers the old way and feed-forward layers the peft way, then guesses the style of
    a whole file from its first key: with the feed-forward key first, the attention layers silently stay untrained.
    """
    peft = any(k.endswith((".lora_A.weight", ".lora_B.weight")) for k in state)
    old = any(k.endswith((".lora.down.weight", ".lora.up.weight")) for k in state)
    if not (peft and old):
        return state
    renamed = {}
    for key, value in state.items():
        for before, after in ((".lora.down.weight", ".lora_A.weight"), (".lora.up.weight", ".lora_B.weight")):
            if key.endswith(before):
                key = key[: -len(before)] + after
        renamed[key] = value
    return renamed


def with_alpha_applied(state: dict[str, Any], header: Mapping[str, str]) -> dict[str, Any]:
    """Fold a diffusers file's `lora_alpha` (kept in its header) into the up weights.

    diffusers reads that header only when it opens the file itself; from a state dict in memory it would take
    alpha = rank and load a LoRA trained with another alpha at the wrong strength (trainer notes §0.3).
    """
    import json

    raw = header.get("lora_adapter_metadata")
    if not raw:
        return state
    meta = json.loads(raw)
    folded = dict(state)
    for prefix in ("unet", "transformer", "text_encoder"):  # each component's alpha is kept under its own prefix
        alpha = meta.get(f"{prefix}.lora_alpha")
        if alpha is None:
            continue
        for key, value in state.items():
            if key.startswith(f"{prefix}.") and key.endswith((".lora.up.weight", ".lora_B.weight")):
                folded[key] = value * (float(alpha) / value.shape[1])
    return folded


@dataclass
class _Resident:
    name: str
    size: int


class LoraCache:
    """The LoRAs resident in one base pipeline (shared by its img2img and inpaint variants through `from_pipe`)."""

    def __init__(self, pipe: Any, family: str, max_bytes: int = DEFAULT_LORA_BUDGET_BYTES) -> None:
        self._pipe = pipe
        self._family = family
        self._max_bytes = max_bytes
        self._resident: OrderedDict[str, _Resident] = OrderedDict()

    @property
    def resident(self) -> tuple[str, ...]:
        """Adapter names, least recently used first."""
        return tuple(self._resident)

    @property
    def resident_bytes(self) -> int:
        return sum(r.size for r in self._resident.values())

    def _registered(self, name: str) -> bool:
        return name in self._pipe.get_list_adapters().get(denoiser_name(self._family), [])

    def _check(self, spec: LoraSpec) -> Path:
        if spec.family != self._family:
            raise InvalidRequest(
                f"LoRA '{spec.name}' was made for {spec.family} models and cannot be used with a {self._family} model."
            )
        path = Path(spec.path).expanduser()
        refuse_pickle(path, what="LoRA")
        if not path.is_file():
            raise ModelUnavailable(f"LoRA '{spec.name}' is missing: its file '{path.name}' was not found.")
        return path

    def _evict_for(self, incoming: int, keep: set[str]) -> None:
        for name in list(self._resident):
            if self.resident_bytes + incoming <= self._max_bytes:
                return
            if name in keep:
                continue
            log.info("Unloading LoRA adapter %s (least recently used)", name)
            self._delete([name])
            del self._resident[name]

    def _load(self, spec: LoraSpec, path: Path, name: str, keep: set[str]) -> None:
        size = path.stat().st_size
        self._evict_for(size, keep)
        try:
            with peft_as_intended():
                # From bytes read now: tensors mapped from the file would change, or crash the process with
                # SIGBUS when it is truncated, if the file is rewritten while the adapter stays resident.
                from safetensors.torch import load as load_safetensors

                data = path.read_bytes()
                state = with_alpha_applied(one_key_style(load_safetensors(data)), _header(data))
                self._pipe.load_lora_weights(state, adapter_name=name)
        except Exception as exc:  # diffusers and peft raise many kinds for a malformed or mismatched file
            log.warning("Loading LoRA %s from %s failed: %s", spec.name, path, exc)
            # A half-loaded adapter would linger in the modules: remove whatever got registered.
            if self._registered(name):
                self._delete([name])
            raise ModelUnavailable(
                f"LoRA '{spec.name}' could not be loaded: the file does not fit a {self._family} model or is damaged."
            ) from exc
        if not any(name in names for names in self._pipe.get_list_adapters().values()):
            # diffusers only logs a warning for key layouts it does not know, and loads nothing (flux notes §4).
            raise ModelUnavailable(
                f"LoRA '{spec.name}' loads no weights into a {self._family} model: its keys are in a layout the "
                "loader does not know. Export it again in the kohya or diffusers format."
            )
        self._resident[name] = _Resident(name=name, size=size)
        log.info("Loaded LoRA %s as adapter %s (%d bytes)", spec.name, name, size)

    def activate(self, loras: Sequence[LoraSpec]) -> None:
        """Make exactly `loras` active at their scales; an empty list turns every adapter off."""
        paths = [self._check(spec) for spec in loras]
        names = [adapter_name(spec) for spec in loras]
        keep = set(names)
        for spec, path, name in zip(loras, paths, names, strict=True):
            if name in self._resident:
                self._resident.move_to_end(name)
            else:
                self._load(spec, path, name, keep)
        if not names:
            # Any adapter on the UNet goes off: the studio's LoRAs, and one that is training on it.
            if self._resident or getattr(denoiser(self._pipe, self._family), "peft_config", None):
                self._pipe.disable_lora()
            return
        self._pipe.enable_lora()
        self._pipe.set_adapters(names, adapter_weights=[float(spec.scale) for spec in loras])

    def clear(self) -> None:
        if self._resident:
            self._delete(list(self._resident))
        self._resident.clear()

    def _delete(self, names: list[str]) -> None:
        with peft_as_intended():
            self._pipe.delete_adapters(names)


# --- writing LoRA files (training output and tests) ---------------------------------------------------------


def save_lora_diffusers(path: Path | str, family: str, unet_peft_state_dict: Mapping[str, Any]) -> Path:
    """Write a UNet LoRA (a peft state dict, from `get_peft_model_state_dict`) as a diffusers-format file."""
    from diffusers.utils import convert_state_dict_to_diffusers

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError("LoRA files are written as .safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    layers = convert_state_dict_to_diffusers(dict(unet_peft_state_dict))
    family_of(family).pipeline_class("txt2img").save_lora_weights(
        str(path.parent), unet_lora_layers=layers, weight_name=path.name, safe_serialization=True
    )
    return path


def save_lora_kohya(path: Path | str, unet_peft_state_dict: Mapping[str, Any], alpha: float | None = None) -> Path:
    """Write a UNet LoRA as a kohya-format file (the layout A1111 and ComfyUI read)."""
    import torch
    from diffusers.utils import convert_all_state_dict_to_peft, convert_state_dict_to_kohya
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError("LoRA files are written as .safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    # The kohya converter expects the diffusers names with their "unet." prefix.
    prefixed = {f"unet.{k}": v for k, v in unet_peft_state_dict.items()}
    kohya = convert_state_dict_to_kohya(convert_all_state_dict_to_peft(prefixed))
    if alpha is not None:
        kohya = {k: (torch.tensor(float(alpha)) if k.endswith(".alpha") else v) for k, v in kohya.items()}
    save_file({k: v.detach().contiguous().cpu() for k, v in kohya.items()}, str(path))
    return path
