"""Image files out: A1111-style parameters, PNG with metadata, grids, and uploads under a size cap.

Everything here is blocking (PIL, hashing, file I/O): call it on the worker thread or through
`asyncio.to_thread`, never on the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from PIL import Image, features
from PIL.PngImagePlugin import PngInfo

PARAMETERS_KEY = "parameters"
NEGATIVE_PREFIX = "Negative prompt:"
UPLOAD_LIMIT_BYTES = 8 * 1024 * 1024

# A1111 writes the settings line as `Key: value, Key: value`; a value holding a comma, colon,
# quote or newline is written as a JSON string.
_SETTING = re.compile(r'\s*([A-Za-z][\w \-/+.()]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_LORA_TAG = re.compile(r"\s*<lora:([^:<>]+):([^:<>]+)>")
_SIZE = re.compile(r"^(\d+)x(\d+)$")
# Civitai's A1111 extension appends `Hashes: {json}` unquoted; Civitai and sd-parsers read it back as JSON.
_HASHES = re.compile(r"(?:,\s*)?Hashes:\s*(\{[^{}]*\})")
_KNOWN = {"Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model"}
_KNOWN |= {"Lora hashes", "Version", "Hashes"}
# EXIF UserComment, in the Exif IFD, with the 8-byte character-code prefix A1111 writes (via piexif) for JPEG/WebP.
_TEXT_KEYS = {"Schedule type": "schedule_type", "Model hash": "model_hash", "Version": "version"}
_EXIF_IFD, _USER_COMMENT, _UNICODE = 0x8769, 0x9286, b"UNICODE\0"


def studio_version() -> str:
    """What `Version:` says: this project and its release (A1111 writes its own tag, e.g. `v1.10.1`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"studio-bot {version('studio-bot')}"
    except PackageNotFoundError:
        return "studio-bot"


def _quote(value: object) -> str:
    text = str(value)
    if any(c in text for c in ',:"\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        with contextlib.suppress(json.JSONDecodeError):
            return str(json.loads(value))
    return value


def _weight(w: float) -> str:
    return format(float(w), "g")


def a1111_parameters(
    prompt: str,
    negative_prompt: str | None,
    steps: int,
    sampler: str,
    cfg_scale: float,
    seed: int,
    width: int,
    height: int,
    model: str,
    loras: Iterable[tuple[str, float]] = (),
    extra: Mapping[str, object] | None = None,
    *,
    schedule_type: str | None = None,
    model_hash: str | None = None,
    lora_hashes: Mapping[str, str] | None = None,
    version: str | None = None,
    hashes: Mapping[str, str] | None = None,
) -> str:
    """The `parameters` text AUTOMATIC1111 would write for these settings, in its order.

    `sampler` and `schedule_type` are A1111's names (engine.diffusion.schedulers.a1111_sampler). LoRAs become
    `<lora:name:weight>` tags after the prompt; `extra` entries follow `Model` in the settings line (keys must not
    hold ',' or ':'), then `Lora hashes: "name: hash, …"`, `Version`, and Civitai's `Hashes: {json}`. Settings
    left None are not written.
    """
    loras = list(loras)
    tags = [f"<lora:{name}:{_weight(weight)}>" for name, weight in loras]
    for name, _ in loras:
        if not name or any(c in name for c in ":<>"):
            raise ValueError(f"LoRA name {name!r} cannot be written as a <lora:...> tag; use a plain slug")
    first = " ".join([prompt, *tags]) if tags else prompt
    settings: list[tuple[str, object]] = [
        ("Steps", int(steps)),
        ("Sampler", sampler),
        ("Schedule type", schedule_type),
        ("CFG scale", float(cfg_scale)),
        ("Seed", int(seed)),
        ("Size", f"{int(width)}x{int(height)}"),
        ("Model hash", model_hash),
        ("Model", model),
    ]
    for key, value in (extra or {}).items():
        if not key or any(c in key for c in ",:\n") or key in _KNOWN:
            raise ValueError(f"extra key {key!r} is reserved or holds ',' ':' or a newline")
        settings.append((key, value))
    if lora_hashes:
        # A1111 drops ':' and ',' from each name, which would break the `name: hash, …` list.
        pairs = (f"{re.sub('[:,]', '', name)}: {digest}" for name, digest in lora_hashes.items())
        settings.append(("Lora hashes", ", ".join(pairs)))
    settings.append(("Version", version))
    line = ", ".join(f"{key}: {_quote(value)}" for key, value in settings if value is not None)
    if hashes:
        line += f", Hashes: {json.dumps(dict(hashes))}"
    lines = [first]
    if negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {negative_prompt}")
    lines.append(line)
    return "\n".join(lines)


def parse_a1111_parameters(text: str) -> dict[str, object]:
    """Read an A1111 `parameters` text back into a dict.

    Keys: prompt (LoRA tags removed), negative_prompt, loras (tuple of (name, weight)),
    steps, sampler, schedule_type, cfg_scale, seed, width, height, model_hash, model, lora_hashes
    (dict name → hash), version, hashes (Civitai's `Hashes` dict), and extra (every other setting,
    as strings). Settings missing from the text are absent from the dict.
    """
    lines = text.rstrip("\n").split("\n")
    settings_line = ""
    if lines and lines[-1].lstrip().startswith("Steps:"):
        settings_line = lines.pop()
    negative_at = next((i for i, line in enumerate(lines) if line.startswith(NEGATIVE_PREFIX)), None)
    if negative_at is None:
        prompt_lines, negative = lines, None
    else:
        prompt_lines = lines[:negative_at]
        rest = [lines[negative_at][len(NEGATIVE_PREFIX) :].lstrip(" "), *lines[negative_at + 1 :]]
        negative = "\n".join(rest)
    prompt = "\n".join(prompt_lines)
    loras = tuple((m.group(1), float(m.group(2))) for m in _LORA_TAG.finditer(prompt))
    result: dict[str, object] = {
        "prompt": _LORA_TAG.sub("", prompt).strip(),
        "negative_prompt": negative,
        "loras": loras,
    }
    if found := _HASHES.search(settings_line):
        with contextlib.suppress(json.JSONDecodeError):
            result["hashes"] = {str(k): str(v) for k, v in json.loads(found.group(1)).items()}
        settings_line = settings_line[: found.start()] + settings_line[found.end() :]
    extra: dict[str, str] = {}
    for match in _SETTING.finditer(settings_line):
        key, value = match.group(1).strip(), _unquote(match.group(2))
        if not key:
            continue
        try:
            if key == "Steps":
                result["steps"] = int(value)
            elif key == "Sampler":
                result["sampler"] = value
            elif key == "CFG scale":
                result["cfg_scale"] = float(value)
            elif key == "Seed":
                result["seed"] = int(value)
            elif key == "Model":
                result["model"] = value
            elif key in _TEXT_KEYS:
                result[_TEXT_KEYS[key]] = value
            elif key == "Lora hashes":
                pairs = (pair.rpartition(":") for pair in value.split(","))
                result["lora_hashes"] = {name.strip(): digest.strip() for name, _, digest in pairs if name.strip()}
            elif key == "Size" and (size := _SIZE.match(value)):
                result["width"], result["height"] = int(size.group(1)), int(size.group(2))
            else:
                extra[key] = value
        except ValueError:
            extra[key] = value
    result["extra"] = extra
    return result


def _png_ready(image: Image.Image) -> Image.Image:
    if image.mode in {"RGB", "RGBA", "L", "LA", "I", "I;16", "P", "1"}:
        return image
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> tuple[str, int]:
    """Write `data` to `path` atomically; return (sha256 hex, size)."""
    _atomic_write(Path(path), data)
    return hashlib.sha256(data).hexdigest(), len(data)


def save_png(image: Image.Image, path: str | os.PathLike[str], parameters: str) -> tuple[str, int]:
    """Write `image` as PNG with a `parameters` text chunk, atomically; return (sha256 hex, size)."""
    info = PngInfo()
    # PIL writes tEXt when the text is Latin-1 and falls back to iTXt (UTF-8) otherwise.
    info.add_text(PARAMETERS_KEY, parameters)
    buffer = io.BytesIO()
    _png_ready(image).save(buffer, format="PNG", pnginfo=info)
    return write_bytes(path, buffer.getvalue())


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) for `count` cells: 1→1×1, 2→1×2, 4→2×2, 8→2×4, otherwise near-square, wide."""
    if count < 1:
        raise ValueError("a grid needs at least one image")
    rows = math.isqrt(count)
    return rows, math.ceil(count / rows)


def make_grid(images: Sequence[Image.Image]) -> Image.Image:
    """Tile same-size images left to right, top to bottom (cell n is image n)."""
    if not images:
        raise ValueError("a grid needs at least one image")
    size = images[0].size
    if any(im.size != size for im in images):
        raise ValueError(f"grid images must share one size; got {sorted({im.size for im in images})}")
    if len(images) == 1:
        return images[0].copy()
    rows, cols = grid_shape(len(images))
    mode = "RGBA" if any("A" in im.getbands() for im in images) else "RGB"
    width, height = size
    grid = Image.new(mode, (cols * width, rows * height))
    for index, im in enumerate(images):
        row, col = divmod(index, cols)
        grid.paste(im.convert(mode), (col * width, row * height))
    return grid


def _exif_comment(parameters: str) -> bytes:
    """EXIF bytes holding `parameters` as a UserComment, where A1111 puts them in JPEG and WebP files."""
    exif = Image.Exif()
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _UNICODE + parameters.encode("utf-16-be")
    return exif.tobytes()


def _encode(image: Image.Image, fmt: str, quality: int | None = None, parameters: str | None = None) -> bytes:
    buffer = io.BytesIO()
    if fmt == "PNG":
        info = None
        if parameters is not None:
            info = PngInfo()
            info.add_text(PARAMETERS_KEY, parameters)
        _png_ready(image).save(buffer, format="PNG", optimize=False, pnginfo=info)
        return buffer.getvalue()
    exif = {"exif": _exif_comment(parameters)} if parameters is not None else {}
    if fmt == "WEBP":
        keep_alpha = "A" in image.getbands()
        image.convert("RGBA" if keep_alpha else "RGB").save(buffer, format="WEBP", quality=quality, method=4, **exif)
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True, **exif)
    return buffer.getvalue()


def encode_for_upload(
    image: Image.Image, max_bytes: int = UPLOAD_LIMIT_BYTES, parameters: str | None = None
) -> tuple[bytes, str]:
    """Encode for an upload of at most `max_bytes`: PNG if it fits, else lossy, then smaller.

    `parameters` (A1111's text) travels inside the file: a PNG text chunk, or the EXIF UserComment of a WebP or
    JPEG, where A1111 writes it. Returns (data, extension without dot): "png", "webp" or "jpg".
    """
    if max_bytes < 1024:
        raise ValueError(f"max_bytes must be at least 1024, got {max_bytes}")
    data = _encode(image, "PNG", parameters=parameters)
    if len(data) <= max_bytes:
        return data, "png"
    fmt, ext = ("WEBP", "webp") if features.check("webp") else ("JPEG", "jpg")
    qualities = (85, 70, 55, 40)
    level = 0
    current = image
    while True:
        data = _encode(current, fmt, qualities[level], parameters)
        if len(data) <= max_bytes:
            return data, ext
        # Lower the quality while that can plausibly close the gap; past that, shrink by the
        # byte ratio (bytes scale roughly with pixel count) with a 10 % margin. Each encode of a
        # large image costs about a second, so this aims for as few rounds as possible.
        if level + 1 < len(qualities) and len(data) <= 2 * max_bytes:
            level += 1
            continue
        factor = min(0.9, math.sqrt(max_bytes / len(data)) * 0.9)
        new_size = (max(1, int(current.width * factor)), max(1, int(current.height * factor)))
        if min(new_size) < 16:
            raise ValueError(f"cannot fit a {image.width}x{image.height} image into {max_bytes} bytes")
        current = image.resize(new_size, Image.Resampling.LANCZOS)
