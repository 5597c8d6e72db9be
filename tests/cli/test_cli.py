"""`jaxseg segment` driven through its entry point on every kind of input a person has."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import write_png16_rgb
from PIL import Image
from skimage.segmentation import find_boundaries

import jaxseg
from jaxseg import io, pipeline
from jaxseg.cli import segment as cli
from jaxseg.metrics.io import load_result
from jaxseg.regions.labels import upsample_labels

H, W = 24, 32  # the common shape: these images share one compiled batch
FAST = ["--method", "slic", "--n-segments", "12", "-q"]

# Small graphs compiled once each: XLA's optimisations cost more than they save.
pytestmark = pytest.mark.usefixtures("fast_compile")


def segment(*args: str) -> int:
    return cli.main(["segment", *args])


def _scene(h=H, w=W, seed=0):
    """Four flat colour quadrants + mild noise: a clear answer at the coarse levels."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    img[: h // 2, : w // 2] = (0.9, 0.1, 0.1)
    img[: h // 2, w // 2 :] = (0.1, 0.8, 0.2)
    img[h // 2 :, : w // 2] = (0.1, 0.2, 0.9)
    img[h // 2 :, w // 2 :] = (0.9, 0.9, 0.2)
    img += rng.normal(0.0, 0.02, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _make_inputs(folder: Path) -> dict[str, tuple[Path, tuple[int, int]]]:
    """Writes every input kind; returns {output name: (file, upright (H, W))} of the good ones."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = _scene()
    Image.fromarray(rgb).save(folder / "plain.png")
    Image.fromarray(rgb).save(folder / "bitmap.bmp")
    Image.fromarray(rgb).save(folder / "photo.jpg", quality=95)
    # Stored sideways (W x H) with EXIF orientation 6: upright it is H x W again.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(rgb, 1))).save(
        folder / "rotated.jpg", exif=exif, quality=95
    )
    Image.fromarray(rgb[..., 1]).save(folder / "gray.png")
    rgba = np.dstack([rgb, np.full((H, W), 255, np.uint8)])
    rgba[:4, :4, 3] = 0
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(folder / "gray16.png")
    write_png16_rgb(folder / "color16.png", rgb.astype(np.uint16) * 257)
    tifffile.imwrite(folder / "color16.tif", rgb.astype(np.uint16) * 257)
    Image.fromarray(rgb[:3, :2]).save(folder / "tiny.png")  # smaller than one superpixel cell
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage, not a jpeg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "fake.png").write_text("a text file with an image suffix")
    files = ["plain.png", "bitmap.bmp", "photo.jpg", "rotated.jpg", "gray.png", "alpha.png"]
    files += ["gray16.png", "color16.png", "color16.tif", "tiny.png"]
    good = {}
    for file in files:
        stem, suffix = file.split(".")
        name = f"{stem}_{suffix}" if stem == "color16" else stem
        good[name] = (folder / file, (3, 2) if stem == "tiny" else (H, W))
    return good


def _check_outputs(out: Path, name: str, shape: tuple[int, int], display: np.ndarray | None):
    folder = out / name
    info = json.loads((folder / "result.json").read_text())
    sp_png = np.asarray(Image.open(folder / "superpixels.png"))
    seg_png = np.asarray(Image.open(folder / "segments.png"))
    sp = np.load(folder / "superpixels.npy")
    seg = np.load(folder / "segments.npy")
    assert sp_png.dtype == np.uint16 and seg_png.dtype == np.uint16
    assert sp.dtype == np.int32 and seg.dtype == np.int32
    assert sp.shape == seg.shape == sp_png.shape == shape
    np.testing.assert_array_equal(sp_png, sp)
    np.testing.assert_array_equal(seg_png, seg)
    # Labels consecutive from 0.
    np.testing.assert_array_equal(np.unique(sp), np.arange(info["n_superpixels"]))
    np.testing.assert_array_equal(np.unique(seg), np.arange(info["n_segments"]))
    result = load_result(out / "bench" / f"{name}.npz")
    if info["method"] in ("felzenszwalb", "dsc"):
        # A stack of segmentations, no hierarchy: bench holds segs (segments among them).
        assert not (folder / "ucm.png").exists()
        assert result.kind == "segs" and result.data.shape[1:] == shape
        assert any(np.array_equal(s, seg + 1) for s in result.data)
        return info
    # A hierarchy: every superpixel lies inside one segment.
    assert info["n_segments"] <= info["n_superpixels"]
    pairs = np.unique(np.stack([sp.ravel(), seg.ravel()], 1), axis=0)
    assert len(pairs) == info["n_superpixels"]
    # The UCM: PNG at pixel size, ucm2 in the benchmark's format.
    ucm = np.asarray(Image.open(folder / "ucm.png"))
    assert ucm.dtype == np.uint8 and ucm.shape == shape
    assert result.kind == "ucm2" and result.data.shape == (2 * shape[0] + 1, 2 * shape[1] + 1)
    assert 0.0 <= result.data.min() and result.data.max() <= 1.0
    with np.load(out / "bench" / f"{name}.npz") as z:
        np.testing.assert_array_equal(z["segs"][0], seg + 1)
    # Overlays differ from the image exactly on boundary pixels.
    if display is not None:
        for kind, labels in (("superpixels", sp), ("segments", seg)):
            over = np.asarray(Image.open(folder / f"overlay_{kind}.png"))
            assert over.shape == (*shape, 3) and over.dtype == np.uint8
            boundary = find_boundaries(labels + 1, mode="inner")
            np.testing.assert_array_equal(over[~boundary], display[~boundary])
            np.testing.assert_array_equal(over[boundary].reshape(-1, 3) - (255, 0, 0), 0)
    return info


def test_every_input_kind(tmp_path, capsys):
    expected = _make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    # One image per batch: the graph of the single-image tests (batching has its own tests).
    rc = segment(str(tmp_path / "in"), "--out", str(out), *FAST, "--batch-size", "1")
    err = capsys.readouterr().err
    assert rc == 1  # three bad files
    assert f"error: {tmp_path / 'in' / 'corrupt.jpg'}: corrupt or truncated image data" in err
    assert f"error: {tmp_path / 'in' / 'fake.png'}: not a readable image" in err
    assert f"error: {tmp_path / 'in' / 'empty.png'}: empty file (0 bytes)" in err
    assert f"note: {tmp_path / 'in' / 'notes.txt'}: not an image file" in err
    assert f"{len(expected)} segmented, 0 skipped (exist), 3 failed" in err
    written = {p.name for p in out.iterdir() if p.is_dir()} - {"bench"}
    assert written == set(expected)
    for name, (source, shape) in expected.items():
        display = io.read_image(source).display
        info = _check_outputs(out, name, shape, display)
        assert info["original_size"] == list(shape) and info["method"] == "slic"
        assert set(info["timings_s"]) >= {"read", "superpixels", "hierarchy", "write", "total"}
    assert json.loads((out / "tiny" / "result.json").read_text())["n_superpixels"] <= 6
    notes = json.loads((out / "alpha" / "result.json").read_text())["notes"]
    assert "alpha composited on white" in notes
    notes = json.loads((out / "rotated" / "result.json").read_text())["notes"]
    assert "applied EXIF orientation 6" in notes
    # The EXIF-rotated photo came out upright: its overlay shows the scene the right way up.
    over = np.asarray(Image.open(out / "rotated" / "overlay_segments.png")).astype(int)
    keep = ~find_boundaries(np.load(out / "rotated" / "segments.npy") + 1, mode="inner")
    assert np.abs(over[keep] - _scene()[keep]).mean() < 5
    # No temp files anywhere.
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_large_image_downscaled_and_upsampled(tmp_path, capsys):
    big = np.kron(_scene(12, 16), np.ones((25, 25, 1), np.uint8))  # 300 x 400
    Image.fromarray(big).save(tmp_path / "big.png")
    out = tmp_path / "out"
    rc = segment(str(tmp_path / "big.png"), "--out", str(out), "--max-side", "32", *FAST)
    assert rc == 0
    assert "downscaled 400x300 -> 32x24" in capsys.readouterr().err
    info = _check_outputs(out, "big", (300, 400), big)
    assert info["processed_size"] == [24, 32] and info["original_size"] == [300, 400]
    # Nearest-neighbour upsampling: labels are constant on the blocks of the 24x32 grid.
    sp = np.load(out / "big" / "superpixels.npy")
    rows = ((np.arange(24) + 0.5) * 300 / 24).astype(int)  # centres of the 12.5 px blocks
    cols = ((np.arange(32) + 0.5) * 400 / 32).astype(int)
    small = sp[rows][:, cols]
    np.testing.assert_array_equal(upsample_labels(small, (300, 400)), sp)


def test_no_overwrite_then_overwrite(tmp_path, capsys):
    Image.fromarray(_scene()).save(tmp_path / "a.png")
    out = tmp_path / "out"
    args = [str(tmp_path / "a.png"), "--out", str(out), *FAST]
    assert segment(*args) == 0
    capsys.readouterr()
    (out / "a" / "result.json").write_text("sentinel")
    assert segment(*args) == 0
    err = capsys.readouterr().err
    assert "exists, skipped (use --overwrite)" in err and "0 segmented, 1 skipped" in err
    assert (out / "a" / "result.json").read_text() == "sentinel"
    assert segment(*args, "--overwrite") == 0
    assert json.loads((out / "a" / "result.json").read_text())["name"] == "a"


def test_batching_does_not_recompile(tmp_path):
    # A shape no other test uses, so the first batch traces for sure.
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(_scene(18, 26, seed=i)).save(folder / f"im{i}.png")
    before = pipeline.TRACE_COUNT["slic"]
    out = tmp_path / "out"
    assert segment(str(folder), "--out", str(out), "--batch-size", "4", *FAST) == 0
    # 5 images: one batch of 4, then one of 1 -> two traces (batch sizes 4 and 1).
    assert pipeline.TRACE_COUNT["slic"] == before + 2
    infos = [json.loads((out / f"im{i}" / "result.json").read_text()) for i in range(5)]
    assert sorted(i["batch_images"] for i in infos) == [1, 4, 4, 4, 4]
    # Same shape again, 3 images: chunks of 2 and 1, one new trace (size 2); at most
    # 1 + log2(4) programs per shape in all.
    for i in range(2):
        (folder / f"im{i}.png").unlink()
    assert segment(str(folder), "--out", str(out), "--batch-size", "4", "--overwrite", *FAST) == 0
    assert pipeline.TRACE_COUNT["slic"] == before + 3


def test_batch_equals_loop():
    # The shape and batch sizes (4, 1) of test_batching_does_not_recompile: its graphs.
    images = [_scene(18, 26, seed=i).astype(np.float32) / 255 for i in range(3)]
    segmenter = pipeline.Segmenter("slic", n_segments=12)
    batched = segmenter.map(images, batch_size=4)
    for image, res in zip(images, batched, strict=True):
        [single] = segmenter.map([image], batch_size=1)
        np.testing.assert_array_equal(res.superpixels, single.superpixels)
        np.testing.assert_array_equal(res.segments, single.segments)
        np.testing.assert_array_equal(res.ucm2, single.ucm2)


def test_levels_on_a_two_region_image():
    image = np.zeros((H, W, 3), np.float32)  # the common shape: its compiled graph
    image[:, W // 2 :] = 1.0
    fine, coarse, one = (
        jaxseg.segment(image, "slic", n_segments=12, threshold=t) for t in (0.3, 0.7, 1.0)
    )
    expected = np.zeros((H, W), int)
    expected[:, W // 2 :] = 1
    np.testing.assert_array_equal(fine.segments, expected)
    np.testing.assert_array_equal(coarse.segments, expected)
    assert one.segments.max() == 0  # every level is < 1: one region at t = 1
    # The ucm2 is 0 inside the halves and high on the cut between them.
    assert fine.ucm2[1::2, 1 : W - 1].max() == 0.0
    assert fine.ucm2[1::2, W].min() > 0.9


def test_levels_are_nested(tmp_path):
    # Quadrants with three contrasts (a weak, a medium and a strong edge), so that the
    # three levels are three different partitions.
    rng = np.random.default_rng(3)
    image = np.full((H, W, 3), 0.5)
    image[: H // 2, W // 2 :, 0] += 0.1
    image[H // 2 :, :, 2] += 0.2
    image[H // 2 :, W // 2 :, 1] -= 0.25
    image += rng.normal(0.0, 0.02, image.shape)
    Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    segs, sps = {}, {}
    for level in ("fine", "medium", "coarse"):
        out = tmp_path / level
        assert segment(str(tmp_path / "a.png"), "--out", str(out), "--level", level, *FAST) == 0
        info = json.loads((out / "a" / "result.json").read_text())
        assert info["settings"]["threshold"] == cli.LEVELS[level]
        assert info["run"]["level"] == level
        segs[level] = np.load(out / "a" / "segments.npy")
        sps[level] = np.load(out / "a" / "superpixels.npy")
    # One set of superpixels; each level's segments are unions of the finer level's ones.
    np.testing.assert_array_equal(sps["fine"], sps["medium"])
    np.testing.assert_array_equal(sps["fine"], sps["coarse"])
    for fine, coarse in (("fine", "medium"), ("medium", "coarse")):
        for region in np.unique(segs[fine]):
            inside = np.unique(segs[coarse][segs[fine] == region])
            assert len(inside) == 1, (fine, region, coarse, inside)
    counts = [len(np.unique(segs[level])) for level in ("fine", "medium", "coarse")]
    assert counts[0] > counts[1] > counts[2] >= 1, counts


def test_felzenszwalb(tmp_path):
    Image.fromarray(_scene()).save(tmp_path / "a.png")
    out = tmp_path / "out"
    args = ["--method", "felzenszwalb", "--set", "scales=[1, 500]", "--set", "scale=500"]
    args += ["--set", "min_size=5", "--set", "sigma=0", "-q"]
    assert segment(str(tmp_path / "a.png"), "--out", str(out), *args) == 0
    info = _check_outputs(out, "a", (H, W), _scene())
    assert info["method"] == "felzenszwalb"
    expected = {"n_segments": None, "scales": [1.0, 500.0], "scale": 500.0, "sigma": 0.0,
                "min_size": 5}  # fmt: skip
    assert info["settings"] == expected
    # The superpixels are the finest scale: regions inside one colour quadrant each; the
    # segments are those at `scale`: the four quadrants (raster order); bench holds both.
    quadrant = (np.arange(H)[:, None] >= H // 2) * 2 + (np.arange(W)[None, :] >= W // 2)
    sp = np.load(out / "a" / "superpixels.npy")
    assert info["n_superpixels"] > 4
    pairs = np.unique(np.stack([sp.ravel(), quadrant.ravel()]), axis=1)
    assert pairs.shape[1] == info["n_superpixels"]
    np.testing.assert_array_equal(np.load(out / "a" / "segments.npy"), quadrant)
    with np.load(out / "bench" / "a.npz") as z:
        assert set(z) == {"segs"}
        np.testing.assert_array_equal(z["segs"], np.stack([sp, quadrant]) + 1)
    # A scale outside the stack: a usage error naming it.
    bad = ["--method", "felzenszwalb", "--set", "scale=7", "-q"]
    assert segment(str(tmp_path / "a.png"), "--out", str(tmp_path / "o2"), *bad) == 2


def test_recursive_and_name_collisions(tmp_path, capsys):
    fast = [*FAST, "--batch-size", "1"]  # the graph the single-image tests compiled
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(_scene()).save(folder / "a.png")
    Image.fromarray(_scene()).save(folder / "a.jpg")
    Image.fromarray(_scene()).save(folder / "sub" / "b.png")
    out = tmp_path / "out"
    assert segment(str(folder), "--out", str(out), *fast) == 0
    assert "1 subfolder(s) not searched (use --recursive)" in capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {"a_png", "a_jpg", "bench"}
    assert segment(str(folder), "--out", str(out), "--recursive", *fast) == 0
    assert (out / "sub" / "b" / "result.json").is_file()
    assert (out / "bench" / "sub__b.npz").is_file()
    # Output folder inside the input folder: its PNGs are not taken as inputs next time.
    inner = folder / "seg"
    assert segment(str(folder), "--out", str(inner), "--recursive", *fast) == 0
    capsys.readouterr()
    assert segment(str(folder), "--out", str(inner), "--recursive", *fast) == 0
    assert "0 segmented, 3 skipped (exist), 0 failed" in capsys.readouterr().err
    # The same relative name in two folders: numbered.
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(_scene()).save(other / "b.png")
    out2 = tmp_path / "out2"
    assert segment(str(folder / "sub"), str(other), "--out", str(out2), *fast) == 0
    assert {p.name for p in out2.iterdir()} == {"b", "b_2", "bench"}


def test_html_index(tmp_path):
    Image.fromarray(_scene()).save(tmp_path / "my photo.png")
    out = tmp_path / "out"
    assert segment(str(tmp_path / "my photo.png"), "--out", str(out), "--html", *FAST) == 0
    page = (out / "index.html").read_text()
    for src in ("my%20photo/input.jpg", "my%20photo/overlay_segments.png"):
        assert f'src="{src}"' in page
    assert (out / "my photo" / "input.jpg").is_file()
    assert str(tmp_path) not in page  # relative paths only


def test_usage_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert segment("--out", out) == 2
    assert "give at least one IMAGE_OR_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        segment("x.png", "--out", out, "--threshold", "1.5")
    assert e.value.code == 2 and "must lie in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        segment("x.png", "--out", out, "--threshold", "0.2", "--level", "fine")
    # --method slic: the default (wang2020 when packaged) would load a network for nothing.
    assert segment(str(tmp_path / "missing.png"), "--out", out, "--method", "slic", "-q") == 1
    assert f"{tmp_path / 'missing.png'}: no such file or folder" in capsys.readouterr().err
    Image.fromarray(_scene()).save(tmp_path / "a.png")
    rc = segment(str(tmp_path / "a.png"), "--out", out, "--device", "gpu", "-q")
    assert rc == 2 and "--device gpu: JAX has no GPU here" in capsys.readouterr().err


def test_python_dash_m(tmp_path):
    Image.fromarray(_scene()).save(tmp_path / "a.png")
    out = tmp_path / "out"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    # A host method (nothing to compile in the new process): the entry point is the test.
    method = ["--method", "felzenszwalb", "--set", "scales=[1, 500]", "--set", "scale=500"]
    proc = subprocess.run(
        [sys.executable, "-m", "jaxseg", "segment", str(tmp_path / "a.png"), "--out", str(out),
         "--device", "cpu", *method, "-q"],
        capture_output=True, text=True, env=env, timeout=600,  # only a guard against a hang
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "1 segmented, 0 skipped (exist), 0 failed" in proc.stderr
    assert _check_outputs(out, "a", (H, W), _scene())["method"] == "felzenszwalb"


def _export_tiny(task: str, folder: Path) -> Path:
    """Exports an untrained model (random weights) of ``configs/<task>_tiny.py``."""
    import importlib

    from flax import nnx

    from jaxseg.train.checkpointing import export_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    try:
        config = importlib.import_module(f"configs.{task}_tiny").get_config()
    finally:
        sys.path.pop(0)
    module = importlib.import_module(f"jaxseg.train.tasks.{task}")
    # Random initialisation as one jitted program (eagerly, one compile per array shape).
    model = nnx.jit(lambda: module.create_model(config, nnx.Rngs(0)))()
    return export_model(model, config, folder)


@pytest.fixture(scope="module")
def tiny_wang2020(tmp_path_factory):
    return _export_tiny("wang2020", tmp_path_factory.mktemp("wang2020_tiny"))


@pytest.fixture(scope="module")
def tiny_superae(tmp_path_factory):
    return _export_tiny("superae", tmp_path_factory.mktemp("superae_tiny"))


def test_wang2020_checkpoint(tmp_path, tiny_wang2020):
    for i in range(3):
        Image.fromarray(_scene(seed=i)).save(tmp_path / f"im{i}.png")
    out = tmp_path / "out"
    before = pipeline.TRACE_COUNT["wang2020"]
    args = ["--method", "wang2020", "--checkpoint", str(tiny_wang2020), "--n-segments", "12"]
    rc = segment(*(str(tmp_path / f"im{i}.png") for i in range(3)), "--out", str(out), *args, "-q")
    assert rc == 0
    assert pipeline.TRACE_COUNT["wang2020"] == before + 2  # 3 images: chunks of 2 and 1
    for i in range(3):
        info = _check_outputs(out, f"im{i}", (H, W), _scene(seed=i))
        assert info["method"] == "wang2020" and info["batch_images"] == 3
        assert info["settings"]["checkpoint"] == str(tiny_wang2020)


def test_wang2020_missing_checkpoint(tmp_path, capsys):
    Image.fromarray(_scene()).save(tmp_path / "a.png")
    rc = segment(
        str(tmp_path / "a.png"), "--out", str(tmp_path / "out"), "--method", "wang2020",
        "--checkpoint", str(tmp_path), "-q",
    )  # fmt: skip
    assert rc == 2
    assert f"no trained model in {tmp_path} (config.json missing)" in capsys.readouterr().err


def test_default_method_follows_packaged_checkpoint(tmp_path, tiny_wang2020, monkeypatch):
    # wang2020 gets the 3 images of test_wang2020_checkpoint (its compiled batch of 4),
    # slic one image (the graph of the single-image tests).
    for i in range(3):
        Image.fromarray(_scene(seed=i)).save(tmp_path / f"im{i}.png")

    def run_without_method(packaged: Path, count: int = 1) -> dict:
        monkeypatch.setattr(pipeline.wang2020, "PACKAGED", packaged)
        out = tmp_path / f"out_{packaged.name}"
        images = [str(tmp_path / f"im{i}.png") for i in range(count)]
        assert segment(*images, "--out", str(out), "--n-segments", "12", "-q") == 0
        return json.loads((out / "im0" / "result.json").read_text())

    # Installed (config.json and model.npz): `jaxseg segment` without --method runs wang2020
    # on the packaged weights.
    info = run_without_method(tiny_wang2020, count=3)
    assert pipeline.default_method() == "wang2020"
    assert info["method"] == "wang2020"
    assert info["settings"]["checkpoint"] == str(tiny_wang2020)
    # Not installed, or half installed: SLIC, never a wang2020 run that would fail to load.
    for present in ((), ("config.json",), ("model.npz",)):
        packaged = tmp_path / ("weights_" + "_".join(present))
        packaged.mkdir()
        for name in present:
            (packaged / name).write_bytes((tiny_wang2020 / name).read_bytes())
        assert run_without_method(packaged)["method"] == "slic", present
        assert pipeline.default_method() == "slic", present


def test_dsc(tmp_path, tiny_superae):
    # 32 x 32 images at the tiny SuperAE's scale 0.25 are 8 x 8, and these DSC settings are
    # those of tests/nn/test_dsc.py: the same compiled batch of 2 (the persistent
    # compilation cache shares it). Felzenszwalb without a minimum size finds 10 to 13
    # superpixels on the untrained model's nearly flat reconstruction (mean shift: one),
    # so DSC has classes to choose and its labels depend on its key.
    size = 32
    images = [_scene(size, size, seed=i) for i in range(2)]
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"im{i}.png")
    out = tmp_path / "out"
    args = ["--method", "dsc", "--checkpoint", str(tiny_superae), "--dsc-iters", "2", "-q"]
    args += ["--set", "counts=[12, 6]", "--set", "segs_level=1"]
    args += ["--set", "num_classes=6", "--set", "max_segments=16"]
    args += ["--set", "generator=felzenszwalb", "--set", 'gen_kw={"min_size": 1}']
    rc = segment(str(tmp_path / "im0.png"), str(tmp_path / "im1.png"), "--out", str(out), *args)
    assert rc == 0
    for i, image in enumerate(images):
        info = _check_outputs(out, f"im{i}", (size, size), image)
        assert info["method"] == "dsc" and info["settings"]["num_iters"] == 2
        assert info["settings"]["counts"] == [12, 6]
        assert info["batch_images"] == 2 and info["n_superpixels"] > 4
    # An image's result does not depend on its place in the batch (one key per image,
    # not per batch slot): the batch in the other order gives each image the same labels.
    kw = dict(checkpoint=tiny_superae, num_iters=2, counts=[12, 6], segs_level=1)
    kw |= dict(num_classes=6, max_segments=16, generator="felzenszwalb", gen_kw={"min_size": 1})
    swapped = pipeline.Segmenter("dsc", **kw).map(images[::-1], batch_size=2)
    for i, res in zip((1, 0), swapped, strict=True):
        np.testing.assert_array_equal(np.load(out / f"im{i}" / "segments.npy"), res.segments)
        with np.load(out / "bench" / f"im{i}.npz") as z:
            np.testing.assert_array_equal(z["segs"], res.segs + 1)


def test_batch_is_capped_by_pixels():
    slic = pipeline.Segmenter("slic")
    assert slic.batch_for((321, 481), 8) == 8
    assert slic.batch_for((321, 481), 32) == 8  # 13 fit: the power of two below
    assert slic.batch_for((768, 1024), 8) == 2
    assert slic.batch_for((3000, 4000), 8) == 1
    assert pipeline.Segmenter("felzenszwalb").batch_for((10, 10), 8) == 1
