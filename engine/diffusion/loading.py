"""Load a base pipeline from a diffusers folder, a single .safetensors file, a hub id, or a built-in tiny model.

Weights load only from safetensors: pickle checkpoints can run code when they are opened.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.catalog import PICKLE_SUFFIXES, ModelSpec
from engine.errors import ModelUnavailable
from engine.families.registry import family_of
from engine.tiny.models import TINY_MODELS, ensure_tiny_folder

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_offline() -> bool:
    """True when the environment forbids the hub, or its host name does not even resolve.

    Read at call time (unlike huggingface_hub's constant). Without a name lookup the hub client would
    retry an unreachable host with back-off for minutes before giving up.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    return not _hub_resolves(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


@functools.lru_cache(maxsize=4)
def _hub_resolves(endpoint: str) -> bool:
    """Whether the hub's host name resolves (a DNS lookup only: nothing is sent to the host)."""
    host = urlsplit(endpoint).hostname or ""
    try:
        socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        log.info("The model hub (%s) cannot be resolved: using local files and the cache only", host)
        return False
    return True


def quiet_progress_bars() -> None:
    """Loading bars of diffusers and transformers would flood the bot's logs."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    # Send their records through the application's logging set-up instead of their own stderr handlers.
    for lib in (diffusers_logging, transformers_logging):
        lib.disable_default_handler()
        lib.enable_propagation()
    # transformers warns at every load that it falls back from torchvision to PIL processors: harmless here.
    transformers_logging.set_verbosity_error()
    # The hub client warns at each retry of an unreachable host; the loaders' own error says what to do.
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()


def _pipeline_class(family: str) -> Any:
    """The class that loads a base pipeline of `family` (ModelUnavailable for a family the engine cannot run)."""
    return family_of(family).pipeline_class("txt2img")


def _family_kwargs(family: str) -> dict[str, Any]:
    return family_of(family).load_options()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("…" if len(text) > 200 else "")


def refuse_pickle(path: Path, what: str = "Model") -> None:
    """Raise ModelUnavailable for a file that is not safetensors."""
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise ModelUnavailable(
            f"{what} file '{path.name}' is a pickle checkpoint ({suffix}), which can run code when loaded: "
            "only .safetensors files are accepted. Convert it to safetensors, or download the .safetensors version."
        )
    if suffix != ".safetensors":
        raise ModelUnavailable(f"{what} file '{path.name}' is not a .safetensors file: only .safetensors is accepted.")


def load_folder(path: Path, family: str, *, dtype: Any = None, name: str | None = None) -> Any:
    """Load a diffusers folder (model_index.json plus components) of `family`."""
    cls = _pipeline_class(family)
    quiet_progress_bars()
    if not (path / "model_index.json").is_file():
        raise ModelUnavailable(f"Folder '{path}' is not a diffusers model folder: it has no model_index.json.")
    try:
        return cls.from_pretrained(str(path), dtype=dtype, use_safetensors=True, **_family_kwargs(family))
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        log.warning("Loading %s from %s failed: %s", name or path.name, path, exc)
        raise ModelUnavailable(
            f"Model '{name or path.name}' could not be loaded from '{path}' as a {family} model: {_short(exc)}"
        ) from exc


def load_single_file(
    path: Path, family: str, *, dtype: Any = None, config: str | None = None, name: str | None = None
) -> Any:
    """Load a single-file .safetensors checkpoint; `config` is a diffusers folder or hub id describing its layout."""
    refuse_pickle(path)
    kind = family_of(family)
    quiet_progress_bars()
    config = config or kind.single_file_config
    local_only = hub_offline() or Path(config).is_dir()
    try:
        return kind.load_single_file(path, config, dtype=dtype, local_only=local_only)
    except Exception as exc:  # diffusers raises many kinds here; the user needs one message
        log.warning("Loading single file %s failed: %s", path, exc)
        hint = (
            ""
            if Path(config).is_dir()
            else f" It needs the configs of '{config}': run `hf download {config} --include '*.json' '*.txt'` "
            "on a connected machine, or convert the file to a diffusers folder."
        )
        raise ModelUnavailable(
            f"Model '{name or path.name}' could not be loaded from '{path.name}': {_short(exc)}.{hint}"
        ) from exc


def _missing_weights(name: str, source: str, family: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"Model '{name}' is not available: the weights of '{source}' are not on this machine and the model hub "
        f"cannot be reached. On a connected machine run `hf download {source}` and copy the Hugging Face cache "
        f"here, or add a local copy with `studio models add NAME PATH --family {family}`. The built-in tiny models "
        "run without downloads: tiny-world draws a toy world of shapes (STUDIO_DEFAULT_MODEL=tiny-world), "
        "tiny-sd and tiny-sdxl make noise."
    )


def load_from_hub(source: str, family: str, *, dtype: Any = None, name: str | None = None) -> Any:
    """Load a hub id through the local cache; fall back to cache-only when the hub is unreachable."""
    cls = _pipeline_class(family)
    quiet_progress_bars()
    kwargs = {"dtype": dtype, "use_safetensors": True, **_family_kwargs(family)}
    name = name or source
    # The local cache first: no network round trip (and no retry loop when offline) for a model already there.
    try:
        return cls.from_pretrained(source, local_files_only=True, **kwargs)
    except Exception as exc:  # any failure here means the cache does not hold (all of) the weights
        cache_error = exc
    if not hub_offline():
        try:
            return cls.from_pretrained(source, **kwargs)
        except Exception as exc:  # network errors come from requests, httpx or the hub client
            log.warning("Fetching %s from the hub failed: %s", source, exc)
    log.warning("Loading %s from the local cache failed: %s", source, cache_error)
    raise _missing_weights(name, source, family) from cache_error


def weights_present(spec: ModelSpec) -> bool:
    """Whether the weights of `spec` are on this machine: built in, a local path, or in the hub cache (no torch,
    no network)."""
    source = spec.source.strip()
    if source.startswith(BUILTIN_PREFIX):
        return source.removeprefix(BUILTIN_PREFIX) in TINY_MODELS
    if Path(source).expanduser().exists():
        return True
    if not _HUB_ID.match(source):
        return False
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(source, "model_index.json"), str)


def load_base_pipeline(spec: ModelSpec, *, cache_dir: Path | str, dtype: Any = None) -> Any:
    """Load the base (text-to-image) pipeline of `spec` on the CPU, whatever its source."""
    _pipeline_class(spec.family)  # refuse unsupported families before touching any file
    source = spec.source.strip()
    if source.startswith(BUILTIN_PREFIX):
        builtin = source.removeprefix(BUILTIN_PREFIX)
        if builtin not in TINY_MODELS:
            raise ModelUnavailable(f"Unknown built-in model '{builtin}'. Built-in models: {', '.join(TINY_MODELS)}.")
        folder = ensure_tiny_folder(builtin, Path(cache_dir) / "builtin")
        return load_folder(folder, spec.family, dtype=dtype, name=spec.name)
    path = Path(source).expanduser()
    if path.exists():
        if path.is_dir():
            return load_folder(path, spec.family, dtype=dtype, name=spec.name)
        return load_single_file(path, spec.family, dtype=dtype, config=spec.config, name=spec.name)
    if path.suffix.lower() in PICKLE_SUFFIXES | {".safetensors"} or not _HUB_ID.match(source):
        if path.suffix.lower() in PICKLE_SUFFIXES:
            refuse_pickle(path)
        raise ModelUnavailable(
            f"Model '{spec.name}': '{source}' is neither an existing local path nor a hub id (owner/name). "
            "Check the path, or give a hub id."
        )
    return load_from_hub(source, spec.family, dtype=dtype, name=spec.name)
