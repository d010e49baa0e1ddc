"""Training-set checks: one planted fault per check in an otherwise clean synthetic set of "the same subject"."""

from __future__ import annotations

import io
import json
import logging
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from engine.backends import WorkContext
from engine.errors import Cancelled, ModelUnavailable
from engine.host import EngineConfig, EngineHost
from engine.training.checks import (
    BLUR_FLOOR,
    check_images,
    exposure,
    laplacian_variance,
    outlier_scores,
    outliers,
    phash_pair,
)
from engine.vision.catalog import load_embedder, resolve_vision, vision_presets
from engine.work import CheckOutcome, CheckSetTask, WorkOrder
from tests.fakes import FakeEmbedder, FakeEngineHost

SIZE, RESOLUTION = 128, 64


def face(seed: int, size: int = SIZE) -> Image.Image:
    """A cartoon face on a noisy, lit background with props: same subject, new pose and scene per seed."""
    rng = np.random.default_rng(seed)
    colour = rng.integers(60, 200, 3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * np.pi)
    ramp = 0.6 + 0.4 * ((np.cos(angle) * xx + np.sin(angle) * yy) % 1.0)
    base = colour[None, None, :] * ramp[..., None] + rng.normal(0, 12, (size, size, 3))
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(2):
        x, y = rng.integers(0, size, 2)
        w = int(rng.integers(size // 6, size // 3))
        d.rectangle([x, y, x + w, y + w], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    k = size / 128
    s = k * rng.uniform(0.8, 1.15)
    cx, cy = size / 2 + rng.integers(-26, 27) * k, size / 2 + rng.integers(-14, 15) * k
    r = 34 * s
    skin = tuple(int(v) for v in np.array([225, 180, 150]) + rng.integers(-15, 16, 3))
    d.ellipse([cx - 40 * s, cy - r * 1.35 - 10 * s, cx + 40 * s, cy + 5 * s], fill=(60, 40, 25))  # hair
    d.ellipse([cx - r, cy - r * 1.25, cx + r, cy + r * 1.25], fill=skin)
    for ex in (-13, 13):
        d.ellipse([cx + (ex - 5) * s, cy - 12 * s, cx + (ex + 5) * s, cy - 4 * s], fill=(255, 255, 255))
        d.ellipse([cx + (ex - 2) * s, cy - 10 * s, cx + (ex + 2) * s, cy - 6 * s], fill=(30, 60, 120))
    d.arc([cx - 12 * s, cy + 6 * s, cx + 12 * s, cy + 22 * s], 20, 160, fill=(150, 40, 50), width=max(1, int(3 * s)))
    d.line([cx, cy - 4 * s, cx - 3 * s, cy + 8 * s], fill=(180, 120, 100), width=max(1, int(2 * s)))  # nose
    return img


def other(seed: int, size: int = SIZE) -> Image.Image:
    """Something else entirely: coloured boxes on a noisy green field."""
    rng = np.random.default_rng(seed)
    base = np.array([20, 120, 40])[None, None, :] + rng.normal(0, 12, (size, size, 3))
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x, y = rng.integers(0, size, 2)
        w = int(rng.integers(8, 40))
        d.rectangle([x, y, x + w, y + 3 * w // 4], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


def near_copy(image: Image.Image) -> Image.Image:
    """Resized to 75 %, JPEG q70, brightness ×1.1: the notes' near-duplicate (phash distance 2)."""
    buffer = io.BytesIO()
    image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS).save(
        buffer, "JPEG", quality=70
    )
    return Image.eval(Image.open(buffer).convert("RGB"), lambda v: min(255, int(v * 1.1)))


def low_contrast(image: Image.Image) -> Image.Image:
    return Image.eval(image, lambda v: int(128 + (v - 128) * 0.2))


CLEAN = 8
# (file name, image or raw bytes, the codes it must get): clean images 1–8, then one fault each.
PLANTED: list[tuple[str, object, tuple[str, ...]]] = [
    ("near-copy.jpg", lambda: near_copy(face(2)), ("duplicate",)),  # of #3
    ("mirror.png", lambda: ImageOps.mirror(face(5)), ("duplicate",)),  # of #6
    ("blurry.png", lambda: face(40).filter(ImageFilter.GaussianBlur(2)), ("blurry",)),
    ("dark.png", lambda: Image.eval(face(41), lambda v: int(v * 0.25)), ("dark",)),
    ("bright.png", lambda: Image.eval(face(42), lambda v: min(255, int(v * 2.5))), ("bright",)),
    ("flat.png", lambda: low_contrast(face(44)), ("flat",)),
    ("tiny.png", lambda: face(43, 48), ("small",)),
    ("broken.png", lambda: b"this is not an image", ("unreadable",)),
    ("other.png", lambda: other(99), ("outlier",)),
]


def _write(folder: Path, name: str, image: object) -> Path:
    path = folder / name
    if isinstance(image, bytes):
        path.write_bytes(image)
    else:
        assert isinstance(image, Image.Image)
        image.save(path)
    return path


@pytest.fixture(scope="module")
def clean_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clean")
    return [_write(folder, f"clean{i}.png", face(i)) for i in range(CLEAN)]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, clean_paths: list[Path]) -> tuple[list[Path], list[tuple]]:
    folder = tmp_path_factory.mktemp("planted")
    paths = [_write(folder, name, make()) for name, make, _ in PLANTED]  # type: ignore[operator]
    expected = [()] * CLEAN + [codes for _, _, codes in PLANTED]
    return clean_paths + paths, expected


def _ctx(events: list | None = None, cancel_after: int | None = None) -> WorkContext:
    flag = threading.Event()

    def emit(event) -> None:
        if events is not None:
            events.append((event.step, event.total))
        if cancel_after is not None and event.step >= cancel_after:
            flag.set()

    return WorkContext(1, flag, emit)


def _order(paths: list[Path]) -> WorkOrder:
    return WorkOrder(1, "check_set", CheckSetTask(tuple(paths), RESOLUTION))


# -- the set checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("embedder", [None, FakeEmbedder()])
def test_the_clean_set_passes(clean_paths: list[Path], embedder) -> None:
    findings = check_images(clean_paths, resolution=RESOLUTION, embedder=embedder)
    assert [f.number for f in findings] == list(range(1, CLEAN + 1))
    assert all(f.codes == () and f.notes == () for f in findings)


def test_each_planted_image_gets_exactly_its_codes(planted) -> None:
    paths, expected = planted
    events: list[tuple[int, int]] = []
    outcome = FakeEngineHost().run(_order(paths), _ctx(events))
    assert isinstance(outcome, CheckOutcome) and outcome.embedder == "fake"
    assert [f.codes for f in outcome.findings] == expected
    assert all(len(f.notes) == len(f.codes) for f in outcome.findings)
    notes = {f.number: f.notes for f in outcome.findings}
    assert notes[CLEAN + 1] == ("near-duplicate of #3",)
    assert notes[CLEAN + 2] == ("mirrored near-duplicate of #6",)
    assert notes[CLEAN + 3][0].startswith("blurry (sharpness ") and "for the set)" in notes[CLEAN + 3][0]
    assert notes[CLEAN + 7] == (f"too small (48×48; trains at {RESOLUTION})",)
    assert notes[CLEAN + 9] == ("unlike the rest of the set (identity outlier)",)
    assert events[-1] == (len(paths), len(paths)) and len(events) == len(paths)
    assert pickle.loads(pickle.dumps(outcome)) == outcome


def test_without_an_embedder_everything_but_outliers_is_checked(planted) -> None:
    paths, expected = planted
    findings = check_images(paths, resolution=RESOLUTION, embedder=None)
    assert [f.codes for f in findings] == [tuple(c for c in codes if c != "outlier") for codes in expected]


def test_a_host_whose_embedder_fails_still_checks_the_rest(planted, caplog: pytest.LogCaptureFixture) -> None:
    class NoClip(FakeEngineHost):
        def embedder(self, for_model=None):
            raise ModelUnavailable("The CLIP image embedder could not be loaded (a test).")

    paths, expected = planted
    with caplog.at_level(logging.DEBUG, logger="engine.tasks.check_set"):
        first = NoClip().run(_order(paths), _ctx())
        second = NoClip().run(_order(paths), _ctx())
    assert first == second and first.embedder is None
    assert [f.codes for f in first.findings] == [tuple(c for c in codes if c != "outlier") for codes in expected]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "outlier check skipped" in r.message]
    assert len(warnings) == 1  # once, not per run


def test_the_real_host_without_clip_weights_still_checks_the_rest(planted) -> None:
    paths, expected = planted
    host = EngineHost(EngineConfig(device="cpu", offline=True))  # the default embedder: CLIP ViT-B/32, not cached
    outcome = host.run(_order(paths), _ctx())
    assert outcome.embedder is None
    assert [f.codes for f in outcome.findings] == [tuple(c for c in codes if c != "outlier") for codes in expected]


def test_a_cancel_stops_between_images(clean_paths: list[Path]) -> None:
    with pytest.raises(Cancelled):
        FakeEngineHost().run(_order(clean_paths), _ctx(cancel_after=3))


def test_exif_orientation_is_applied_before_the_size_check(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown 90° turned
    path = tmp_path / "turned.jpg"
    face(1).resize((100, 40)).save(path, exif=exif.tobytes(), quality=95)
    (finding,) = check_images([path], resolution=RESOLUTION, embedder=None)
    assert finding.notes == (f"too small (40×100; trains at {RESOLUTION})",)


def test_a_truncated_file_is_unreadable(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    face(1).save(buffer, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert check_images([path], resolution=RESOLUTION, embedder=None)[0].codes == ("unreadable",)


def test_half_clipped_black_is_dark_even_with_a_bright_mean(tmp_path: Path) -> None:
    image = Image.new("L", (SIZE, SIZE), 0)
    image.paste(255, (0, 0, SIZE, SIZE * 45 // 100))  # 45 % white: mean 0.45, but 55 % clipped black
    path = _write(tmp_path, "half.png", image)
    assert check_images([path], resolution=RESOLUTION, embedder=None)[0].codes == ("dark",)


# -- the measurements ----------------------------------------------------------------------------


def test_laplacian_variance_matches_scipy_with_mirror_padding() -> None:
    from scipy import ndimage

    image = face(3).convert("L")
    gray = np.asarray(image, dtype=np.float64)
    assert laplacian_variance(image) == pytest.approx(ndimage.laplace(gray, mode="mirror").var())
    assert laplacian_variance(image.filter(ImageFilter.GaussianBlur(4))) < BLUR_FLOOR
    assert laplacian_variance(Image.new("RGB", (1, 1))) == 0.0


def test_exposure_reads_luma() -> None:
    grey = exposure(Image.new("RGB", (64, 64), (128, 128, 128)))
    assert grey.mean == pytest.approx(128 / 255) and grey.std == 0.0
    black = exposure(Image.new("RGB", (64, 64)))
    assert black.clipped_low == 1.0 and black.clipped_high == 0.0


def test_phash_pair_sees_the_mirror() -> None:
    image = face(4)
    plain, mirrored = phash_pair(image)
    flipped = phash_pair(ImageOps.mirror(image))
    assert flipped[0] - mirrored == 0 and flipped[1] - plain == 0
    assert plain - phash_pair(near_copy(image))[0] <= 4 < plain - mirrored


# -- the outlier rule ----------------------------------------------------------------------------


def test_outliers_in_a_plain_embedding_matrix() -> None:
    # The rule itself flags one inlier in ~15 % of small isotropic Gaussian sets (robust z on a skewed cosine
    # distribution, MAD from few points): this fixed draw keeps every inlier above z = -2 (the stranger: -36).
    rng = np.random.default_rng(0)
    subject = rng.normal(size=64)
    rows = subject + 0.5 * rng.normal(size=(9, 64))
    stranger = rng.normal(size=(1, 64))
    flags = outliers(np.vstack([rows[:4], stranger, rows[4:]]))
    assert flags == [False] * 4 + [True] + [False] * 5
    assert outliers(rows) == [False] * 9  # a consistent set has none
    assert outliers(np.vstack([rows[:3], stranger])) == [False] * 4  # too few to judge


def test_outliers_when_the_cosines_do_not_spread() -> None:
    same = np.ones((6, 8))
    assert outliers(same) == [False] * 6  # MAD 0 and nothing differs: nobody is flagged
    assert np.all(np.isfinite(outlier_scores(same)))
    odd = np.vstack([same, np.eye(8)[:1] - 0.5])
    assert outliers(odd) == [False] * 6 + [True]  # MAD 0, but one differs for real
    assert outliers(np.vstack([same, np.zeros((1, 8))])) == [False] * 6 + [True]  # a zero vector is no crash


# -- the embedders -------------------------------------------------------------------------------


def test_missing_clip_weights_give_one_clear_message() -> None:
    with pytest.raises(ModelUnavailable) as caught:
        load_embedder("clip-vit-base-patch32", offline=True)
    message = caught.value.message
    assert "openai/clip-vit-base-patch32" in message and "hf download openai/clip-vit-base-patch32" in message
    assert "STUDIO_EMBEDDER=clip-vit-base-patch32" in message and "\n" not in message


def test_the_catalog_lists_and_resolves_embedders(tmp_path: Path) -> None:
    assert [p.id for p in vision_presets("embedder")] == ["clip-vit-base-patch32", "tiny-clip", "tiny-world-eyes"]
    assert resolve_vision("embedder", "").id == "clip-vit-base-patch32"
    with pytest.raises(ModelUnavailable, match="is a captioner"):
        resolve_vision("embedder", "tiny-blip")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip_vision_model"}), encoding="utf-8")
    assert resolve_vision("embedder", str(tmp_path)).architecture == "clip"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "blip"}), encoding="utf-8")
    with pytest.raises(ModelUnavailable, match=r"STUDIO_EMBEDDER.*does not hold a clip model"):
        resolve_vision("embedder", str(tmp_path))


@pytest.mark.slow
def test_tiny_clip_is_deterministic_and_runs_the_outlier_path(clean_paths: list[Path], planted) -> None:
    from engine.vision.embedder import ImageEmbedder, tiny_clip_embedder

    embedder = load_embedder("tiny-clip")
    assert isinstance(embedder, ImageEmbedder) and embedder.name == "tiny-clip"
    images = [Image.open(p).convert("RGB") for p in clean_paths[:3]]
    vectors = embedder.embed(images)
    assert vectors.shape == (3, 16)
    np.testing.assert_allclose(tiny_clip_embedder(0).embed(images), vectors, atol=1e-5)
    # Random weights know nothing of identity: with seed 0 the stranger stands out in this set and no clean
    # image does (seed 1 misses it), so this pins the code path, not a judgement. The fake embedder and the
    # matrix tests above pin the rule itself.
    paths = [*clean_paths, planted[0][-1]]
    findings = check_images(paths, resolution=RESOLUTION, embedder=embedder)
    assert [f.codes for f in findings] == [()] * CLEAN + [("outlier",)]


@pytest.mark.slow
def test_a_local_clip_folder_loads(tmp_path: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    small = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2}
    config = CLIPConfig(
        text_config={**small, "vocab_size": 100, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={**small, "image_size": 32, "patch_size": 4, "projection_dim": 16},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(tmp_path)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    embedder = load_embedder(str(tmp_path))
    assert embedder.name == str(tmp_path)
    assert embedder.embed([face(0), face(1)]).shape == (2, 16)
