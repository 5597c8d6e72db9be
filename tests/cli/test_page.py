"""The results page of ``jaxseg segment --html`` (``jaxseg/cli/page.py``).

The data tests check what ``page.js`` holds against the benchmark's reading of the UCM;
the browser tests open the page in headless Chromium (Debian package ``chromium``;
``.ci/run`` installs it) and skip with the reason where no Chromium is installed.

The README's screenshot ``docs/page.png`` comes from :func:`test_screenshot`:

    JAXSEG_PAGE_SCREENSHOT=docs/page.png \
        .venv/bin/python -m pytest -q tests/cli/test_page.py -k screenshot
"""

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxseg.cli import page
from jaxseg.cli import segment as cli
from jaxseg.metrics.region import ucm2_to_segmentation
from jaxseg.pipeline import cut

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
LEVELS = (0.0, 0.15, 0.3, 1.0)


def _decode(data: dict, key: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data[key]), dtype=dtype)


def _page_data(path: Path) -> dict:
    text = path.read_text()
    assert text.startswith(f"// jaxseg page data v{page.DATA_VERSION}\n")
    match = re.fullmatch(r"jaxsegPage\.add\((\".*?\"), (\{.*\})\);\n", text.splitlines(True)[1])
    assert match, text[:200]
    return json.loads(match.group(2))


def _superpixels(data: dict) -> np.ndarray:
    runs = _decode(data, "superpixels", "<u4").reshape(-1, 2)
    return np.repeat(runs[:, 0], runs[:, 1]).reshape(data["height"], data["width"])


def _scene() -> np.ndarray:
    """Four flat quadrants with noise, at 60 x 80."""
    rng = np.random.default_rng(0)
    img = np.zeros((60, 80, 3), np.float32)
    img[:30, :40], img[:30, 40:] = (0.9, 0.2, 0.1), (0.1, 0.3, 0.9)
    img[30:, :40], img[30:, 40:] = (0.2, 0.8, 0.2), (0.9, 0.9, 0.8)
    img += rng.normal(0.0, 0.04, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def out(tmp_path_factory, fast_compile_module):
    """``jaxseg segment --html`` of one image with slic (a UCM) and one with felzenszwalb
    (a stack of segmentations), in one folder."""
    folder = tmp_path_factory.mktemp("page")
    Image.fromarray(_scene()).save(folder / "four parts.png")
    Image.fromarray(_scene()[::-1]).save(folder / "stack.png")
    out = folder / "out"
    args = ["--out", str(out), "--html", "-q"]
    assert cli.main(["segment", str(folder / "four parts.png"), "--method", "slic",
                     "--n-segments", "40", *args]) == 0  # fmt: skip
    assert cli.main(["segment", str(folder / "stack.png"), "--method", "felzenszwalb",
                     "--set", "scales=[20, 200]", "--set", "scale=20", *args]) == 0  # fmt: skip
    return out


def test_page_data_levels_give_the_benchmark_partition(out):
    data = _page_data(out / "four parts" / page.DATA_FILE)
    sp = _superpixels(data)
    np.testing.assert_array_equal(sp, np.load(out / "four parts" / "superpixels.npy"))
    pairs = _decode(data, "pairs", "<i4").reshape(-1, 2)
    levels = _decode(data, "levels", "<f8")
    ucm2 = np.load(out / "bench" / "four parts.npz")["ucm2"]
    counts = []
    for t in sorted({0.0, *np.unique(levels).tolist(), *LEVELS}):
        # the page's partition (pipeline.cut on its pairs and levels) is the benchmark's
        mine = cut(sp, pairs, levels, t)[sp]
        ref = ucm2_to_segmentation(ucm2, t)
        _, inverse = np.unique(ref, return_inverse=True)
        np.testing.assert_array_equal(mine, _renumber(inverse.reshape(ref.shape)))
        counts.append(int(mine.max()) + 1)
    assert counts[0] == data["n_superpixels"] and counts[-1] == 1
    info = json.loads((out / "four parts" / "result.json").read_text())
    assert data["threshold"] == info["settings"]["threshold"]
    seg_at_t = cut(sp, pairs, levels, data["threshold"])[sp]
    np.testing.assert_array_equal(seg_at_t, np.load(out / "four parts" / "segments.npy"))
    colors = _decode(data, "colors", "u1").reshape(-1, 3)
    assert colors.shape == (data["n_superpixels"], 3)
    top_left = np.bincount(sp[:30, :40].ravel()).argmax()
    assert colors[top_left][0] > 180 and colors[top_left][2] < 80  # the red quadrant


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Labels numbered in raster order of their first pixel, from 0."""
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].reshape(labels.shape)


def test_page_data_of_a_stack(out):
    data = _page_data(out / "stack" / page.DATA_FILE)
    assert "levels" not in data and len(data["segs"]) == 2
    with np.load(out / "bench" / "stack.npz") as z:
        segs = z["segs"]
    for encoded, seg in zip(data["segs"], segs, strict=True):
        runs = np.frombuffer(base64.b64decode(encoded), "<u4").reshape(-1, 2)
        labels = np.repeat(runs[:, 0], runs[:, 1]).reshape(seg.shape)
        assert len(np.unique(labels)) == len(np.unique(seg))
        pairs = np.unique(np.stack([labels.ravel(), seg.ravel()]), axis=1)
        assert pairs.shape[1] == len(np.unique(seg))  # the same partition


def test_page_data_is_rewritten_only_when_stale(out):
    target = out / "four parts" / page.DATA_FILE
    before = target.stat().st_mtime_ns
    bench = out / "bench" / "four parts.npz"
    assert not page.write_image_data(out, "four parts", bench)
    assert target.stat().st_mtime_ns == before
    os.utime(out / "four parts" / "result.json")  # newer than page.js
    assert page.write_image_data(out, "four parts", bench)
    target.write_text("// jaxseg page data v0\n")  # an older format
    assert page.write_image_data(out, "four parts", bench)
    assert _page_data(target)["n_superpixels"] > 1


def test_index_lists_both_and_needs_nothing_outside(out):
    text = (out / "index.html").read_text()
    assert "<th>four parts</th>" in text and "<th>stack</th>" in text
    assert 'src="four%20parts/input.jpg"' in text
    # static: no external scripts, styles or fonts
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "@import" not in text and "url(" not in text


# ------------------------------------------------------------------ the page in a browser


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless browser ({', '.join(BROWSERS)}) installed; apt-get install chromium")


def _chromium(out: Path, fragment: str, *extra: str, tmp: Path) -> str:
    url = (out / "index.html").as_uri() + "#" + fragment
    cmd = [
        _browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=5000",
        *extra, url,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _shown(dom: str) -> dict:
    state = re.search(r'<body[^>]* data-state="([a-z]+)"', dom)
    count = re.search(r'id="count" data-count="(\d*)"', dom)
    checksum = re.search(r'data-checksum="([0-9a-f]*)"', dom)
    note = re.search(r'<p id="note">([^<]*)</p>', dom)
    assert state and count and checksum, dom[-3000:]
    assert state.group(1) == "ready", note.group(1) if note else dom[-3000:]
    return {"count": int(count.group(1)), "checksum": checksum.group(1)}


def test_browser_slider_redraws_at_the_level(out, tmp_path):
    ucm2 = np.load(out / "bench" / "four parts.npz")["ucm2"]
    # 0, a level at which pairs join (exactly: pairs at t are merged at t), and 1
    middle = float(np.unique(ucm2[ucm2 > 0])[len(np.unique(ucm2[ucm2 > 0])) // 2])
    shown = {}
    for level in (0.0, middle, 1.0):
        dom = _chromium(out, f"img=four%20parts&level={level!r}", "--dump-dom", tmp=tmp_path)
        shown[level] = _shown(dom)
        assert shown[level]["count"] == ucm2_to_segmentation(ucm2, level).max(), level
    assert (
        ucm2_to_segmentation(ucm2, middle).max() < ucm2_to_segmentation(ucm2, middle - 1e-9).max()
    )
    assert shown[0.0]["count"] > shown[middle]["count"] > shown[1.0]["count"] == 1
    assert len({s["checksum"] for s in shown.values()}) == 3  # the overlay changed
    # Without a level: the method's threshold, whose regions are segments.npy's.
    n_segments = json.loads((out / "four parts" / "result.json").read_text())["n_segments"]
    dom = _chromium(out, "img=four%20parts", "--dump-dom", tmp=tmp_path)
    assert _shown(dom)["count"] == n_segments


def test_browser_stack_and_missing_image(out, tmp_path):
    with np.load(out / "bench" / "stack.npz") as z:
        segs = z["segs"]
    dom = _chromium(out, "img=stack&level=1&bd=0&sp=1", "--dump-dom", tmp=tmp_path)
    assert _shown(dom)["count"] == len(np.unique(segs[1]))
    dom = _chromium(out, "img=nothing", "--dump-dom", tmp=tmp_path)
    assert 'data-state="error"' in dom and "no image nothing" in dom


def test_screenshot(out, tmp_path):
    """A screenshot of the viewer; to ``$JAXSEG_PAGE_SCREENSHOT`` when set (the README's).

    With that variable set, the page shows scikit-image's astronaut photo segmented with
    the default method instead of the small test image."""
    target = os.environ.get("JAXSEG_PAGE_SCREENSHOT")
    shown = out
    if target:
        shown = tmp_path / "astronaut"
        assert cli.main(["segment", "--sample", "astronaut", "--out", str(shown), "--html",
                         "-q"]) == 0  # fmt: skip
        fragment = "img=astronaut&level=0.5&sp=0"
    else:
        fragment = "img=four%20parts&level=0.15&sp=1"
    png = tmp_path / "page.png"
    _chromium(shown, fragment, "--window-size=1000,760", f"--screenshot={png}", tmp=tmp_path)
    with Image.open(png) as shot:
        image = np.asarray(shot.convert("RGB"))
    assert image.shape == (760, 1000, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # not a blank page
    if target:
        shutil.copy(png, target)
