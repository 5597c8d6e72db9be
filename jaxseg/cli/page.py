"""The results page of ``jaxseg segment --html``: ``OUT/index.html`` and one
``OUT/<name>/page.js`` per image.

``index.html`` is a gallery of every finished image in ``OUT`` (its input and overlays) and
a viewer: pick an image and move a slider over the levels of its merge hierarchy (UCM); the
segment overlay is redrawn in the browser at that level, with toggles for superpixels,
segments and segment boundaries, and the number of regions at the level. It is static: no
server, no external script or font, and it works opened from disk (``file://``). The page
state lives in the URL fragment, ``index.html#img=<name>&level=0.4`` (also ``sp``, ``seg``,
``bd`` = 0/1 for the toggles and ``alpha`` for the fill opacity), so a view can be
bookmarked or opened by a script.

Per image, ``page.js`` (loaded with a ``<script>`` tag when the image is opened: browsers
refuse ``fetch()`` of ``file://`` URLs) holds the superpixels at image resolution
(run-length coded), the adjacent superpixel pairs with the level at which each pair joins
(read from the ``ucm2`` of ``OUT/bench/<name>.npz``: the value of the boundary elements
between the two superpixels, float64), and each superpixel's mean colour (from
``input.jpg``). The page's segments at level ``t`` are :func:`jaxseg.pipeline.cut`'s: the
connected components of the superpixel graph whose edges are the pairs with level
``<= t``, numbered in raster order of their first pixel; for jaxseg's UCMs this is the
partition the benchmark reads from the ``ucm2`` at ``t``
(:func:`jaxseg.metrics.region.ucm2_to_segmentation`). A method without a hierarchy
(a stack of segmentations: ``felzenszwalb``, ``dsc``) gets the stack instead, and the slider
steps through it.

The viewer writes what it shows into the page (for tests and scripts): ``#count``
(``data-count``: the number of regions), ``#overlay`` (``data-checksum``: FNV-1a of the
overlay's RGBA bytes, ``data-level``) and ``body[data-state]`` (``ready`` once drawn,
``error`` with ``#note`` saying why).
"""

from __future__ import annotations

import base64
import html
import json
import urllib.parse
from pathlib import Path

import numpy as np

from jaxseg import io

__all__ = ["DATA_FILE", "image_data", "write_image_data", "write_page"]

DATA_FILE = "page.js"
DATA_VERSION = 1
"""Format of ``page.js``; a file of another version is written again."""


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _runs(labels: np.ndarray) -> np.ndarray:
    """``[label, length, label, length, ...]`` of ``labels`` in raster order."""
    flat = np.asarray(labels).ravel()
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    lengths = np.diff(np.r_[starts, flat.size])
    return np.stack([flat[starts], lengths], axis=1).ravel()


def _pair_levels(superpixels: np.ndarray, ucm2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjacent superpixel pairs ``(P, 2)`` and the lowest ``ucm2`` boundary element
    between each pair ``(P,)`` (jaxseg's UCMs give one level per pair)."""
    from jaxseg.regions.merge import neighbour_pixel_pairs

    sp = superpixels.astype(np.int64)
    a, b = neighbour_pixel_pairs(sp)  # horizontal pairs, then vertical: as `edge`
    edge = np.concatenate([ucm2[1:-1:2, 2:-1:2].ravel(), ucm2[2:-1:2, 1:-1:2].ravel()])
    keep = a != b
    lo, hi, edge = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep]), edge[keep]
    m = int(sp.max()) + 1
    key = lo * m + hi
    uniq, inverse = np.unique(key, return_inverse=True)
    levels = np.full(uniq.size, np.inf)
    np.minimum.at(levels, inverse, edge)
    return np.stack([uniq // m, uniq % m], axis=1), levels


def image_data(
    superpixels: np.ndarray,
    *,
    ucm2: np.ndarray | None = None,
    segs: np.ndarray | None = None,
    image: np.ndarray | None = None,
    threshold: float | None = None,
    info: dict | None = None,
) -> dict:
    """What ``page.js`` holds for one image (JSON-able; arrays base64, little-endian).

    Args:
        superpixels: ``(H, W)`` int labels ``0..m-1``.
        ucm2: ``(2H+1, 2W+1)`` merge hierarchy (BSDS layout), or None.
        segs: ``(L, H, W)`` int stack of segmentations (any labels), used without ``ucm2``.
        image: ``(H, W, 3) uint8`` for the superpixels' mean colours, or None.
        threshold: the level shown first (the method's), or None (0.5).
        info: extra JSON-able fields (method, settings), kept as given.

    Returns:
        dict with ``width``, ``height``, ``n_superpixels``, ``superpixels`` (runs
        ``label, length`` as uint32), ``pairs`` (int32 ``(P, 2)``) and ``levels``
        (float64) or ``segs`` (one run-length string per level), ``colors`` (uint8
        ``(m, 3)``) or None, ``threshold``.
    """
    sp = np.asarray(superpixels)
    if sp.ndim != 2 or not np.issubdtype(sp.dtype, np.integer) or sp.size == 0 or sp.min() < 0:
        raise ValueError(f"superpixels must be a non-empty (H, W) label image >= 0, got {sp.shape}")
    h, w = sp.shape
    m = int(sp.max()) + 1
    data: dict = {
        "version": DATA_VERSION,
        "width": w,
        "height": h,
        "n_superpixels": m,
        "superpixels": _b64(_runs(sp), "<u4"),
        "threshold": 0.5 if threshold is None else float(threshold),
        "colors": None,
        **(info or {}),
    }
    if ucm2 is not None:
        ucm2 = np.asarray(ucm2, np.float64)
        if ucm2.shape != (2 * h + 1, 2 * w + 1):
            raise ValueError(f"ucm2 {ucm2.shape} does not fit superpixels of size {(h, w)}")
        pairs, levels = _pair_levels(sp, ucm2)
        data.update(pairs=_b64(pairs, "<i4"), levels=_b64(levels, "<f8"))
    elif segs is not None:
        segs = np.asarray(segs)
        if segs.ndim != 3 or segs.shape[1:] != (h, w):
            raise ValueError(f"segs {segs.shape} do not fit superpixels of size {(h, w)}")
        data["segs"] = [_b64(_runs(np.unique(s, return_inverse=True)[1]), "<u4") for s in segs]
    if image is not None:
        from jaxseg.regions.labels import region_means

        if image.shape[:2] != (h, w):
            raise ValueError(f"image {image.shape} does not fit superpixels of size {(h, w)}")
        means = region_means(sp, image[..., :3], m)
        data["colors"] = _b64(np.round(means).astype(np.uint8), "u1")
    return data


def _script(name: str, data: dict) -> str:
    return (
        f"// jaxseg page data v{DATA_VERSION}\n"
        f"jaxsegPage.add({json.dumps(name)}, {json.dumps(data, separators=(',', ':'))});\n"
    )


def write_image_data(out: Path, name: str, bench_file: Path) -> bool:
    """Writes ``OUT/<name>/page.js`` unless it is current (newer than the image's
    ``result.json`` and bench file, of this format); returns whether it wrote."""
    from jaxseg.fileio import remove_stale_temps

    folder = out / name
    target = folder / DATA_FILE
    remove_stale_temps(folder, DATA_FILE)
    sources = [folder / "result.json", bench_file, folder / "input.jpg"]
    if target.is_file():
        mtime = target.stat().st_mtime
        with open(target, encoding="utf-8") as f:
            current = f.readline().strip() == f"// jaxseg page data v{DATA_VERSION}"
        if current and all(not p.exists() or p.stat().st_mtime <= mtime for p in sources):
            return False
    info = json.loads((folder / "result.json").read_text())
    sp = np.load(folder / "superpixels.npy")
    with np.load(bench_file) as z:
        ucm2 = z["ucm2"] if "ucm2" in z.files else None
        segs = z["segs"] if ucm2 is None and "segs" in z.files else None
    image = None
    if (folder / "input.jpg").is_file():
        image = io.read_image(folder / "input.jpg").display
        if image.shape[:2] != sp.shape:
            image = None
    settings = info.get("settings", {})
    threshold = settings.get("threshold") if ucm2 is not None else settings.get("segs_level")
    extra = {"method": info.get("method"), "n_segments": info.get("n_segments")}
    data = image_data(sp, ucm2=ucm2, segs=segs, image=image, threshold=threshold, info=extra)
    io.write_text(target, _script(name, data))
    return True


def _quote(path: str) -> str:
    return urllib.parse.quote(path)


def write_page(out: Path, names: list[str], bench_path) -> None:
    """Writes every image's ``page.js`` (where not current) and ``OUT/index.html``.

    Args:
        out: the output folder.
        names: finished images, in gallery order.
        bench_path: ``(out, name) -> Path`` of the image's bench file.
    """
    entries = []
    rows = []

    def cell(name: str, file: str, alt: str) -> str:
        if not (out / name / file).exists():
            return "<td>(not written)</td>"
        src = _quote(f"{name}/{file}")
        return (
            f'<td><a href="#img={urllib.parse.quote(name, safe="")}">'
            f'<img loading="lazy" src="{src}" alt="{html.escape(alt)}"></a></td>'
        )

    for name in names:
        write_image_data(out, name, bench_path(out, name))
        entries.append(
            {
                "name": name,
                "data": _quote(f"{name}/{DATA_FILE}"),
                "input": _quote(f"{name}/input.jpg")
                if (out / name / "input.jpg").exists()
                else None,
            }
        )
        rows.append(
            f"<tr><th>{html.escape(name)}</th>"
            + cell(name, "input.jpg", f"{name} input")
            + cell(name, "overlay_superpixels.png", f"{name} superpixels")
            + cell(name, "overlay_segments.png", f"{name} segments")
            + cell(name, "ucm.png", f"{name} hierarchy")
            + "</tr>"
        )
    images_json = json.dumps(entries).replace("</", "<\\/")
    page = PAGE_TEMPLATE.format(
        css=PAGE_CSS,
        js=PAGE_JS,
        images=images_json,
        rows="\n".join(rows),
        count=len(names),
    )
    io.write_text(out / "index.html", page)


PAGE_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1em 2em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:.6em 0}
#viewer{position:sticky;top:0;background:#fafafa;padding:.5em 0;border-bottom:1px solid #ccc;
z-index:2}
#viewer[hidden]{display:none}
.controls{display:flex;flex-wrap:wrap;gap:.4em 1.2em;align-items:center;margin:.4em 0}
.controls input[type=range]{width:16em;vertical-align:middle}
#count{font-size:1.2em}
.stage{position:relative;display:inline-block;background:#ddd;line-height:0}
.stage canvas{position:relative;z-index:1;display:block;max-width:calc(100vw - 2em);
max-height:62vh;image-rendering:pixelated}
.stage img{position:absolute;inset:0;width:100%;height:100%}
#note{color:#a00}
table{border-collapse:collapse}
td,th{vertical-align:top;padding:4px;text-align:left}
td img{max-width:200px;height:auto}
button{font:inherit}
"""

PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>jaxseg segment</title>
<style>{css}</style></head>
<body data-state="gallery">
<h1>jaxseg segment ({count} finished)</h1>
<section id="viewer" hidden>
<div class="controls">
<button id="prev" title="previous image (p)">&#8249;</button>
<b id="title"></b>
<button id="next" title="next image (n)">&#8250;</button>
<a href="#">close</a>
</div>
<div class="controls">
<label>level <input type="range" id="level" min="0" max="1" step="0.001" value="0.5"></label>
<output id="level-value"></output>
<span>regions: <b id="count" data-count=""></b></span>
<label><input type="checkbox" id="show-sp"> superpixels</label>
<label><input type="checkbox" id="show-seg" checked> segments</label>
<label><input type="checkbox" id="show-bd" checked> boundaries</label>
<label>fill <input type="range" id="alpha" min="0" max="1" step="0.05" value="0.6"></label>
</div>
<div class="stage"><img id="photo" alt=""><canvas id="overlay" width="1" height="1"
data-checksum="" data-level=""></canvas></div>
<p id="note"></p>
</section>
<p>Click an image to explore its hierarchy: the slider sets the merge level (higher:
fewer, larger segments).</p>
<table>
<tr><th>image</th><th>input</th><th>superpixels</th><th>segments</th><th>hierarchy (UCM)</th></tr>
{rows}
</table>
<script id="jaxseg-images" type="application/json">{images}</script>
<script>{js}</script>
</body></html>
"""

PAGE_JS = r"""
"use strict";
(function () {
  const IMAGES = JSON.parse(document.getElementById("jaxseg-images").textContent);
  const byName = new Map(IMAGES.map((e, i) => [e.name, i]));
  const $ = (id) => document.getElementById(id);
  const cache = new Map();
  const loading = new Map();
  let view = null; // {entry, data, level, partition}

  function bytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function expand(b64, n) {
    const runs = new Uint32Array(bytes(b64));
    const labels = new Int32Array(n);
    let pos = 0;
    for (let k = 0; k < runs.length; k += 2) {
      labels.fill(runs[k], pos, pos + runs[k + 1]);
      pos += runs[k + 1];
    }
    if (pos !== n) throw new Error("run lengths " + pos + " != " + n + " pixels");
    return labels;
  }
  function prepare(d) {
    const n = d.width * d.height;
    const sp = expand(d.superpixels, n);
    const size = new Float64Array(d.n_superpixels);
    for (let i = 0; i < n; i++) size[sp[i]]++;
    return {
      ...d, n, sp, size,
      pairs: d.pairs ? new Int32Array(bytes(d.pairs)) : null,
      levels: d.levels ? new Float64Array(bytes(d.levels)) : null,
      stack: d.segs ? d.segs.map((s) => expand(s, n)) : null,
      colors: d.colors ? new Uint8Array(bytes(d.colors)) : null,
    };
  }
  window.jaxsegPage = {
    add(name, d) {
      try { cache.set(name, prepare(d)); } catch (e) { fail(name + ": " + e.message); return; }
      const done = loading.get(name);
      loading.delete(name);
      if (done) done();
    },
  };

  // Segments at level t: connected components of the superpixel pairs with level <= t
  // (jaxseg.pipeline.cut), numbered in raster order of their first pixel.
  function cut(d, t) {
    const m = d.n_superpixels, parent = new Int32Array(m);
    for (let i = 0; i < m; i++) parent[i] = i;
    const find = (a) => {
      while (parent[a] !== a) { parent[a] = parent[parent[a]]; a = parent[a]; }
      return a;
    };
    for (let k = 0; k < d.levels.length; k++) {
      if (d.levels[k] <= t) {
        const a = find(d.pairs[2 * k]), b = find(d.pairs[2 * k + 1]);
        if (a !== b) parent[a] = b;
      }
    }
    const ofSp = new Int32Array(m).fill(-1), ofRoot = new Int32Array(m).fill(-1);
    let count = 0;
    for (let i = 0; i < d.n; i++) {
      const s = d.sp[i];
      if (ofSp[s] < 0) {
        const r = find(s);
        if (ofRoot[r] < 0) ofRoot[r] = count++;
        ofSp[s] = ofRoot[r];
      }
    }
    const region = new Int32Array(d.n);
    for (let i = 0; i < d.n; i++) region[i] = ofSp[d.sp[i]];
    return { region, count };
  }
  function stackLevel(d, k) {
    const labels = d.stack[k], seen = new Map(), region = new Int32Array(d.n);
    for (let i = 0; i < d.n; i++) {
      let r = seen.get(labels[i]);
      if (r === undefined) { r = seen.size; seen.set(labels[i], r); }
      region[i] = r;
    }
    return { region, count: seen.size };
  }
  function regionColors(d, part) {
    const c = new Float64Array(3 * part.count), w = new Float64Array(part.count);
    if (d.colors && !d.stack) {
      for (let i = 0; i < d.n; i++) {
        const r = part.region[i], s = d.sp[i];
        c[3 * r] += d.colors[3 * s]; c[3 * r + 1] += d.colors[3 * s + 1];
        c[3 * r + 2] += d.colors[3 * s + 2]; w[r]++;
      }
      for (let r = 0; r < part.count; r++) for (let j = 0; j < 3; j++) c[3 * r + j] /= w[r];
    } else {
      for (let r = 0; r < part.count; r++) { // golden-angle hues
        const h = (r * 137.508) % 360, x = 1 - Math.abs(((h / 60) % 2) - 1);
        const rgb = h < 60 ? [1, x, 0] : h < 120 ? [x, 1, 0] : h < 180 ? [0, 1, x]
          : h < 240 ? [0, x, 1] : h < 300 ? [x, 0, 1] : [1, 0, x];
        for (let j = 0; j < 3; j++) c[3 * r + j] = 60 + 180 * rgb[j];
      }
    }
    return c;
  }
  function edges(labels, w, h) { // pixels with a 4-neighbour of another label
    const e = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x, v = labels[i];
        if ((x + 1 < w && labels[i + 1] !== v) || (y + 1 < h && labels[i + w] !== v)) {
          e[i] = 1;
          if (x + 1 < w && labels[i + 1] !== v) e[i + 1] = 1;
          if (y + 1 < h && labels[i + w] !== v) e[i + w] = 1;
        }
      }
    }
    return e;
  }
  function fnv1a(px) {
    let h = 0x811c9dc5;
    for (let i = 0; i < px.length; i++) h = Math.imul(h ^ px[i], 0x01000193);
    return (h >>> 0).toString(16).padStart(8, "0");
  }

  function draw() {
    const d = view.data, canvas = $("overlay");
    const part = view.partition, colors = regionColors(d, part);
    const showSp = $("show-sp").checked, showSeg = $("show-seg").checked;
    const showBd = $("show-bd").checked, alpha = Math.round(255 * Number($("alpha").value));
    if (!d.spEdges) d.spEdges = edges(d.sp, d.width, d.height);
    const bd = edges(part.region, d.width, d.height);
    canvas.width = d.width; canvas.height = d.height;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(d.width, d.height);
    const px = img.data;
    for (let i = 0; i < d.n; i++) {
      const o = 4 * i;
      if (showBd && bd[i]) {
        px[o] = 255; px[o + 1] = 32; px[o + 2] = 32; px[o + 3] = 255;
      } else if (showSp && d.spEdges[i]) {
        px[o] = 255; px[o + 1] = 230; px[o + 2] = 0; px[o + 3] = 255;
      } else if (showSeg) {
        const r = part.region[i];
        px[o] = colors[3 * r]; px[o + 1] = colors[3 * r + 1]; px[o + 2] = colors[3 * r + 2];
        px[o + 3] = alpha;
      }
    }
    ctx.putImageData(img, 0, 0);
    $("count").textContent = String(part.count);
    $("count").dataset.count = String(part.count);
    canvas.dataset.checksum = fnv1a(px);
    canvas.dataset.level = String(view.level);
    document.body.dataset.state = "ready";
  }

  function setLevel(t) {
    const d = view.data;
    if (d.stack) {
      const k = Math.max(0, Math.min(d.stack.length - 1, Math.round(t)));
      view.level = k;
      view.partition = stackLevel(d, k);
      $("level-value").textContent = "segmentation " + (k + 1) + " of " + d.stack.length;
    } else {
      view.level = Math.max(0, Math.min(1, t));
      view.partition = cut(d, view.level);
      $("level-value").textContent = view.level.toFixed(3);
    }
    $("level").value = String(view.level);
  }

  function fail(msg) {
    $("note").textContent = msg;
    document.body.dataset.state = "error";
  }

  function params() {
    return new URLSearchParams(location.hash.replace(/^#/, ""));
  }
  function writeHash() {
    const p = new URLSearchParams();
    p.set("img", view.entry.name);
    p.set("level", String(view.level));
    p.set("sp", $("show-sp").checked ? "1" : "0");
    p.set("seg", $("show-seg").checked ? "1" : "0");
    p.set("bd", $("show-bd").checked ? "1" : "0");
    p.set("alpha", $("alpha").value);
    history.replaceState(null, "", "#" + p.toString());
  }

  function openImage(entry, p) {
    $("viewer").hidden = false;
    $("title").textContent = entry.name;
    $("note").textContent = "";
    document.body.dataset.state = "loading";
    const photo = $("photo");
    if (entry.input) { photo.src = entry.input; photo.hidden = false; }
    else { photo.removeAttribute("src"); photo.hidden = true; }
    const show = () => {
      const d = cache.get(entry.name);
      view = { entry, data: d, level: 0, partition: null };
      for (const [key, id] of [["sp", "show-sp"], ["seg", "show-seg"], ["bd", "show-bd"]]) {
        if (p.has(key)) $(id).checked = p.get(key) === "1";
      }
      if (p.has("alpha")) $("alpha").value = p.get("alpha");
      const slider = $("level");
      if (d.stack) { slider.min = "0"; slider.max = String(d.stack.length - 1); slider.step = "1"; }
      else { slider.min = "0"; slider.max = "1"; slider.step = "0.001"; }
      const t = p.has("level") ? Number(p.get("level")) : d.threshold;
      if (!Number.isFinite(t)) { fail("level " + p.get("level") + " is not a number"); return; }
      setLevel(t);
      draw();
    };
    if (cache.has(entry.name)) { show(); return; }
    loading.set(entry.name, show);
    const s = document.createElement("script");
    s.src = entry.data;
    s.onerror = () => fail("cannot load " + decodeURI(entry.data) +
      " (run jaxseg segment --html again to write it)");
    document.head.appendChild(s);
  }

  function route() {
    const p = params();
    if (!p.has("img")) {
      $("viewer").hidden = true;
      document.body.dataset.state = "gallery";
      view = null;
      return;
    }
    const i = byName.get(p.get("img"));
    if (i === undefined) { $("viewer").hidden = false; fail("no image " + p.get("img")); return; }
    openImage(IMAGES[i], p);
  }

  $("level").addEventListener("input", () => {
    if (!view) return;
    setLevel(Number($("level").value));
    draw();
    writeHash();
  });
  for (const id of ["show-sp", "show-seg", "show-bd", "alpha"]) {
    $(id).addEventListener("input", () => { if (view) { draw(); writeHash(); } });
  }
  const step = (k) => {
    if (!view || !IMAGES.length) return;
    const i = (byName.get(view.entry.name) + k + IMAGES.length) % IMAGES.length;
    location.hash = "img=" + encodeURIComponent(IMAGES[i].name);
  };
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
    if (e.key === "n") step(1);
    if (e.key === "p") step(-1);
  });
  window.addEventListener("hashchange", route);
  route();
})();
"""
