"""jaxseg.io: every kind of input file decodes to upright float RGB, bad ones fail clearly."""

import numpy as np
import pytest
import tifffile
from conftest import write_png16_rgb
from PIL import Image

from jaxseg import io, overlay


def _rgb(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".ppm", ".webp"])
def test_lossless_rgb_round_trip(tmp_path, suffix):
    rgb = _rgb()
    path = tmp_path / f"a{suffix}"
    Image.fromarray(rgb).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    loaded = io.read_image(path)
    assert loaded.image.shape == (20, 30, 3) and loaded.image.dtype == np.float32
    np.testing.assert_allclose(loaded.image, rgb / 255.0, atol=1e-6)
    np.testing.assert_array_equal(loaded.display, rgb)
    assert not loaded.downscaled


def test_jpeg_close_to_source(tmp_path):
    rgb = np.full((16, 24, 3), (200, 40, 90), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    loaded = io.read_image(tmp_path / "a.jpg")
    assert np.abs(loaded.display.astype(int) - rgb).max() <= 4


@pytest.mark.parametrize("orientation,expected", [(6, np.rot90(np.arange(6).reshape(2, 3), -1))])
def test_exif_orientation_applied(tmp_path, orientation, expected):
    # A 2x3 block image (each block 8 px, distinct grey) stored sideways with orientation 6
    # ("rotate 90 CW to display"): the decoded image must be 3x2 blocks, upright.
    blocks = np.kron(np.arange(6).reshape(2, 3) * 40 + 20, np.ones((8, 8))).astype(np.uint8)
    pil = Image.fromarray(np.repeat(blocks[..., None], 3, -1))
    exif = Image.Exif()
    exif[0x0112] = orientation
    pil.save(tmp_path / "r.jpg", exif=exif, quality=100)
    loaded = io.read_image(tmp_path / "r.jpg")
    assert loaded.display.shape == (24, 16, 3)
    centres = loaded.display[4::8, 4::8, 0].astype(int)
    np.testing.assert_allclose(centres, expected * 40 + 20, atol=3)
    assert any("EXIF orientation 6" in n for n in loaded.notes)


def test_grayscale_replicated(tmp_path):
    gray = _rgb()[..., 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    loaded = io.read_image(tmp_path / "g.png")
    assert loaded.image.shape == (20, 30, 3)
    for c in range(3):
        np.testing.assert_array_equal(loaded.display[..., c], gray)


def test_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = (10, 200, 30)
    rgba[:5, :, 3] = 255  # top opaque
    rgba[5:, :, 3] = 0  # bottom transparent, colour underneath must not show
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    loaded = io.read_image(tmp_path / "t.png")
    np.testing.assert_array_equal(loaded.display[:5], np.broadcast_to([10, 200, 30], (5, 10, 3)))
    np.testing.assert_array_equal(loaded.display[5:], 255)
    assert "alpha composited on white" in loaded.notes


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_gray_scaled_by_type_range(tmp_path, suffix):
    gray = np.linspace(0, 65535, 20 * 30).reshape(20, 30).astype(np.uint16)
    gray[0, 0] = 1000  # a dark value must stay dark (scaled by 65535, not by the max)
    Image.fromarray(gray).save(tmp_path / f"g16{suffix}")
    loaded = io.read_image(tmp_path / f"g16{suffix}")
    np.testing.assert_allclose(loaded.image[..., 1], gray / 65535.0, atol=1e-6)
    assert loaded.display.max() == 255 and loaded.display[0, 0, 0] == 4


def test_16bit_rgb_png_and_tiff(tmp_path):
    rgb16 = (np.random.default_rng(1).integers(0, 65536, (12, 14, 3))).astype(np.uint16)
    write_png16_rgb(tmp_path / "c16.png", rgb16)
    tifffile.imwrite(tmp_path / "c16.tif", rgb16)
    for name in ("c16.png", "c16.tif"):
        loaded = io.read_image(tmp_path / name)
        assert loaded.image.shape == (12, 14, 3)
        # 8 bits of precision at least, scaled by the type range.
        np.testing.assert_allclose(loaded.image, rgb16 / 65535.0, atol=1 / 255 + 1e-6)


def test_multipage_tiff_uses_first_page(tmp_path):
    pages = np.stack([np.full((8, 9, 3), v, np.uint8) for v in (50, 150)])
    tifffile.imwrite(tmp_path / "m.tif", pages)
    loaded = io.read_image(tmp_path / "m.tif")
    assert loaded.display.shape == (8, 9, 3) and np.all(loaded.display == 50)


def test_downscale_to_max_side(tmp_path):
    rgb = _rgb(300, 400)
    Image.fromarray(rgb).save(tmp_path / "big.png")
    loaded = io.read_image(tmp_path / "big.png", max_side=100)
    assert loaded.image.shape == (75, 100, 3)
    assert loaded.display.shape == (300, 400, 3) and loaded.downscaled
    assert any("downscaled 400x300 -> 100x75" in n for n in loaded.notes)
    # Box filter: a block mean of the source.
    np.testing.assert_allclose(
        loaded.image[0, 0], rgb[:4, :4].reshape(-1, 3).mean(0) / 255.0, atol=1e-4
    )


def test_decode_image_equals_read_image(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (9, 14, 3), dtype=np.uint8)
    for name in ("a.png", "b.tif"):
        Image.fromarray(rgb).save(tmp_path / name)
        from_file = io.read_image(tmp_path / name)
        from_bytes = io.decode_image((tmp_path / name).read_bytes(), tmp_path / name)
        np.testing.assert_array_equal(from_bytes.display, rgb)
        np.testing.assert_array_equal(from_bytes.image, from_file.image)
    with pytest.raises(io.ImageReadError, match=r"x\.jpg: not a readable image"):
        io.decode_image(b"not an image at all", "x.jpg")


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", r"empty file \(0 bytes\)"),
        (b"this is not an image at all", "not a readable image"),
    ],
)
def test_bad_files_name_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(io.ImageReadError, match=reason) as info:
        io.read_image(path)
    assert str(info.value).startswith(f"{path}: ")


def test_truncated_jpeg(tmp_path):
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ImageReadError, match="truncated") as info:
        io.read_image(tmp_path / "cut.jpg")
    assert "cut.jpg" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(io.ImageReadError, match="no such file"):
        io.read_image(tmp_path / "nope.png")


def test_write_png_atomic_and_dtypes(tmp_path):
    labels = np.arange(70000 % 65536, dtype=np.uint16).reshape(-1, 16)[:10]
    io.write_png(tmp_path / "l.png", labels)
    back = np.asarray(Image.open(tmp_path / "l.png"))
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, labels)
    assert [p.name for p in tmp_path.iterdir()] == ["l.png"]  # no temp file left
    with pytest.raises(TypeError, match="uint8 or uint16"):
        io.write_png(tmp_path / "x.png", labels.astype(np.int32))


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_write(target, "w") as f:
        f.write("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_overlay_changes_only_boundaries():
    image = _rgb(12, 12)
    labels = np.zeros((12, 12), int)
    labels[:, 6:] = 1
    out = overlay.draw_boundaries(image, labels)
    changed = np.any(out != image, axis=-1)
    # mode="inner": the boundary pixels of both regions along the cut (columns 5 and 6).
    assert not changed[:, :5].any() and not changed[:, 7:].any()
    for col in (5, 6):
        np.testing.assert_array_equal(out[:, col], np.broadcast_to(overlay.BOUNDARY_COLOR, (12, 3)))


def test_ucm_image():
    ucm2 = np.zeros((5, 7))
    ucm2[:, 2] = 0.5  # vertical boundary right of pixel column 0
    img = overlay.ucm_image(ucm2)
    assert img.shape == (2, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[:, 0], 128)
    assert img[:, 1:].max() == 0
