"""BSDS500 in one compact file, for machines that get the project but not the dataset.

A GPU machine reached through a copy of the working tree gets at most a few tens of MB
beside it; the upstream folder is about 60 MB (ground truth 23 MB as MAT-files). The pack
holds the same data in one ``.npz`` of about 40 MB:

* each image's JPEG bytes exactly as upstream (no re-encoding), as a ``uint8`` array;
* each annotator's ``Segmentation`` as ``uint16`` (BSDS500 labels are below 65536) and
  ``Boundaries`` as packed bits, all compressed.

:func:`unpack_bsds500` writes the upstream layout back (``data/images/<split>/<id>.jpg``
and ``data/groundTruth/<split>/<id>.mat``), so every reader of the project works on it
unchanged, and :func:`jaxseg.data.read_ground_truth` returns the same arrays as for the
original files (tested).

    python -m jaxseg.data.pack ../shared/data/BSDS500 .gl/bsds500.npz
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from jaxseg.data.bsds500 import (
    SPLITS,
    ground_truth_path,
    image_path,
    list_ids,
    read_ground_truth,
    resolve_data_dir,
)
from jaxseg.fileio import atomic_write, write_bytes_atomic

__all__ = ["pack_bsds500", "unpack_bsds500"]

_FORMAT = "jaxseg-bsds500-pack-1"


def pack_bsds500(
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    splits: Sequence[str] = SPLITS,
    max_images: int = 0,
) -> Path:
    """Packs BSDS500 (``data_dir``: its root or ``data/`` folder) into ``out`` (``.npz``).

    Args:
        data_dir: the BSDS500 folder.
        out: the pack to write (atomically).
        splits: which splits to pack.
        max_images: per split, the first this many ids (sorted); 0 = all.
    """
    folder = resolve_data_dir(data_dir)
    arrays: dict[str, np.ndarray] = {"format": np.array(_FORMAT)}
    for split in splits:
        ids = list_ids(folder, split)
        if max_images:
            ids = ids[:max_images]
        arrays[f"{split}/ids"] = np.array(ids)
        for image_id in ids:
            key = f"{split}/{image_id}"
            arrays[f"{key}/jpg"] = np.frombuffer(
                image_path(folder, split, image_id).read_bytes(), np.uint8
            )
            gts = read_ground_truth(ground_truth_path(folder, split, image_id))
            if max(int(g.segmentation.max()) for g in gts) > np.iinfo(np.uint16).max:
                raise ValueError(f"{key}: more than 65535 segments; cannot pack as uint16")
            arrays[f"{key}/seg"] = np.stack([g.segmentation for g in gts]).astype(np.uint16)
            arrays[f"{key}/bdry"] = np.packbits(np.stack([g.boundaries for g in gts]), axis=-1)
    out = Path(out)
    write_bytes_atomic(out, lambda f: np.savez_compressed(f, **arrays))
    return out


def unpack_bsds500(pack: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Writes the upstream BSDS500 layout of ``pack`` under ``dest``; returns ``dest``.

    Raises:
        ValueError: ``pack`` is not a file written by :func:`pack_bsds500` (named).
    """
    pack, dest = Path(pack), Path(dest)
    try:
        z = np.load(pack)
        fmt = str(z["format"]) if "format" in z.files else None
    except (OSError, ValueError) as e:
        raise ValueError(f"{pack} is not a readable .npz ({e}); rebuild it with {_USAGE}") from e
    if fmt != _FORMAT:
        raise ValueError(f"{pack} is not a BSDS500 pack (format {fmt!r}); rebuild it: {_USAGE}")
    with z:
        for split in SPLITS:
            if f"{split}/ids" not in z.files:
                continue
            for image_id in z[f"{split}/ids"].tolist():
                key = f"{split}/{image_id}"
                write_bytes_atomic(
                    dest / "data" / "images" / split / f"{image_id}.jpg", z[f"{key}/jpg"].tobytes()
                )
                seg = z[f"{key}/seg"]
                bdry = np.unpackbits(z[f"{key}/bdry"], axis=-1, count=seg.shape[-1]).astype(bool)
                cells = np.empty((1, len(seg)), dtype=object)
                for k in range(len(seg)):
                    cells[0, k] = {
                        "Segmentation": seg[k].astype(np.uint16),
                        "Boundaries": bdry[k],
                    }
                buf = io.BytesIO()
                scipy.io.savemat(buf, {"groundTruth": cells}, do_compression=True)
                path = dest / "data" / "groundTruth" / split / f"{image_id}.mat"
                with atomic_write(path) as f:
                    f.write(buf.getvalue())
    return dest


_USAGE = "python -m jaxseg.data.pack BSDS500_ROOT OUT.npz"


def main(argv: Sequence[str] | None = None) -> int:
    from jaxseg.cli import ArgumentParser

    p = ArgumentParser(prog="python -m jaxseg.data.pack", description=__doc__.split("\n")[0])
    p.add_argument("data_dir", help="BSDS500 root (or its data/ folder)")
    p.add_argument("out", help="the .npz pack to write")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    p.add_argument("--max-images", type=int, default=0, help="per split; 0 = all")
    args = p.parse_args(argv)
    out = pack_bsds500(args.data_dir, args.out, splits=args.splits, max_images=args.max_images)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
