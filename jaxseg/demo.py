"""Demo: SLIC superpixels of one image, saved as a boundary overlay PNG.

Run:

    python -m jaxseg.demo --out DIR [--image PATH] [--n-segments N] [--compactness C]

Without ``--image`` it uses scikit-image's bundled ``astronaut.png`` (shipped in
the scikit-image wheel; nothing is downloaded). Writes
``DIR/<image stem>_slic<N>.png`` (superpixel boundaries in yellow over the
image) atomically and prints its path and the number of superpixels.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import skimage.data
import skimage.io
from skimage.segmentation import mark_boundaries

from jaxseg.imageio import write_png
from jaxseg.slic import slic


def _load(path: str | None) -> tuple[np.ndarray, str]:
    if path is None:
        return skimage.data.astronaut(), "astronaut"
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--image {path} does not exist; give an existing image file.")
    try:
        image = skimage.io.imread(file)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read --image {path} as an image ({e}).") from e
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]  # drop alpha
    return image, file.stem


def main(argv: list[str] | None = None) -> Path:
    """Run the demo; returns the path of the written PNG."""
    parser = argparse.ArgumentParser(
        prog="python -m jaxseg.demo",
        description="SLIC superpixels (jaxseg.slic) of an image, saved as a boundary overlay.",
    )
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--image", default=None, help="image file (default: skimage astronaut)")
    parser.add_argument("--n-segments", type=int, default=300, help="requested superpixels")
    parser.add_argument("--compactness", type=float, default=10.0, help="SLIC compactness")
    args = parser.parse_args(argv)
    if args.n_segments < 1:
        parser.error(f"--n-segments must be >= 1; got {args.n_segments}.")
    if not args.compactness > 0:
        parser.error(f"--compactness must be > 0; got {args.compactness}.")

    image, stem = _load(args.image)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    labels = slic(image, n_segments=args.n_segments, compactness=args.compactness)
    seconds = time.perf_counter() - start
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    overlay = mark_boundaries(rgb, labels, color=(1.0, 1.0, 0.0))
    path = out_dir / f"{stem}_slic{args.n_segments}.png"
    write_png(path, (np.clip(overlay, 0.0, 1.0) * 255).round().astype(np.uint8))
    print(
        f"{int(labels.max()) + 1} superpixels on {image.shape[1]}x{image.shape[0]} "
        f"(first call, with compilation: {seconds:.2f} s); wrote {path}"
    )
    return path


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
