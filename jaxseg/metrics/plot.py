"""Reports of benchmark output folders: P-R plot (matplotlib, Agg backend) and a table.

A benchmark output folder is one written by ``jaxseg bench`` or by the official MATLAB
benchmark: the same text files (``eval_bdry.txt``, ``eval_bdry_thr.txt``,
``eval_cover.txt``, ``eval_RI_VOI.txt``), so official folders can be plotted beside
jaxseg's.

* :func:`plot_pr` draws each folder's pooled boundary P-R curve over the thresholds, its
  ODS point (filled circle) and OIS point (open square), over green iso-F curves
  (F = 0.1 ... 0.9) as in the official ``isoF.fig`` / ``plot_eval.m`` figures; legend
  entries read ``[F=.726] name`` (ODS F), best first.
* :func:`markdown_table` is one row per folder: boundary ODS/OIS F and AP, covering
  ODS/OIS/Best, PRI and VI ODS/OIS (the figures a folder has; ``-`` for the others).

Command lines: ``jaxseg plot OUT... --png FILE [--labels NAME...] [--md FILE]``
(:mod:`jaxseg.cli.plot`); ``jaxseg bench`` writes both for its own folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxseg.fileio import atomic_write
from jaxseg.metrics.io import read_table


def load_curve(out_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``(thr (T, 4) [T, R, P, F], summary (8,))`` from a benchmark output folder."""
    out_dir = Path(out_dir)
    thr_file, sum_file = out_dir / "eval_bdry_thr.txt", out_dir / "eval_bdry.txt"
    for f in (thr_file, sum_file):
        if not f.is_file():
            raise FileNotFoundError(
                f"{f} not found; run `jaxseg bench RESULTS --gt GT --out {out_dir}` with the "
                "boundary benchmark first"
            )
    thr, summary = read_table(thr_file), read_table(sum_file)[0]
    if thr.shape[1] != 4 or summary.size != 8:
        raise ValueError(f"{out_dir}: unexpected columns in eval_bdry_thr.txt / eval_bdry.txt")
    return thr, summary


def _labels(out_dirs: Sequence[str | os.PathLike], labels: Sequence[str] | None) -> list[str]:
    if len(out_dirs) == 0:
        raise ValueError("give at least one benchmark output folder")
    if labels is not None and len(labels) != len(out_dirs):
        raise ValueError(
            f"got {len(labels)} labels for {len(out_dirs)} folders; give one per folder"
        )
    return list(labels) if labels is not None else [Path(d).resolve().name for d in out_dirs]


def f_label(f: float) -> str:
    """``[F=.726]``: an F value as the BSDS plots print it in their legends."""
    text = f"{f:.3f}"
    return f"[F={text[1:] if text.startswith('0') else text}]"


def plot_pr(
    out_dirs: Sequence[str | os.PathLike],
    png: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Draws the boundary P-R curves of several result folders into ``png`` (atomic write).

    Args:
        out_dirs: benchmark output folders (jaxseg's or the official benchmark's).
        png: output image path.
        labels: legend names (default: folder names); as many as ``out_dirs``.
        title: optional title.

    Raises:
        FileNotFoundError: a folder lacks ``eval_bdry.txt`` / ``eval_bdry_thr.txt``.
        ValueError: no folders, or labels that do not fit them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = _labels(out_dirs, labels)
    curves = [(lbl, *load_curve(d)) for lbl, d in zip(labels, out_dirs, strict=True)]
    curves.sort(key=lambda c: -c[2][3])
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=120)
    for f in np.arange(0.1, 1.0, 0.1):
        r = np.linspace(f / (2 - f), 1, 200)  # iso-F curve P = f R / (2R - f), P <= 1
        ax.plot(r, f * r / (2 * r - f), color=(0.55, 0.8, 0.55), lw=0.8, ls=":", zorder=0)
        # label where the curve meets the diagonal R = P = f
        ax.text(f, f, f"{f:.1f}", color=(0.3, 0.6, 0.3), fontsize=6, ha="left", va="bottom")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (lbl, thr, summary) in enumerate(curves):
        color, name = colors[k % len(colors)], f"{f_label(summary[3])} {lbl}"
        keep = thr[:, 1] >= 0.01  # plot_eval.m: recall >= 0.01
        if keep.sum() > 1:  # one operating point (one segmentation): only the dot
            ax.plot(thr[keep, 1], thr[keep, 2], lw=2, color=color, label=name)
            name = None
        ax.plot(summary[1], summary[2], "o", color=color, ms=6, zorder=3, label=name)
        ax.plot(summary[4], summary[5], "s", mfc="none", mec=color, ms=6, mew=1.2, zorder=3)
    ax.plot([], [], "o", color="0.3", ms=5, label="ODS")
    ax.plot([], [], "s", mfc="none", mec="0.3", ms=5, label="OIS")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Recall", ylabel="Precision", aspect="equal")
    ax.grid(True, lw=0.3)
    ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    try:
        with atomic_write(png) as f:
            fig.savefig(f, format="png")
    finally:
        plt.close(fig)


TABLE_COLUMNS = (
    ("ODS F", "eval_bdry.txt", 3),
    ("OIS F", "eval_bdry.txt", 6),
    ("AP", "eval_bdry.txt", 7),
    ("Cover ODS", "eval_cover.txt", 1),
    ("Cover OIS", "eval_cover.txt", 2),
    ("Cover Best", "eval_cover.txt", 3),
    ("PRI ODS", "eval_RI_VOI.txt", 1),
    ("PRI OIS", "eval_RI_VOI.txt", 2),
    ("VI ODS", "eval_RI_VOI.txt", 4),
    ("VI OIS", "eval_RI_VOI.txt", 5),
)
"""``(header, official summary file, column)`` of :func:`markdown_table`."""


def markdown_table(
    out_dirs: Sequence[str | os.PathLike], *, labels: Sequence[str] | None = None
) -> str:
    """A markdown table of the summary figures of benchmark output folders, one row each.

    Args:
        out_dirs: benchmark output folders (jaxseg's or the official benchmark's).
        labels: row names (default: folder names).

    Returns:
        The table (ends with a newline); figures a folder lacks (boundary-only or
        region-only runs) are ``-``; values have 3 decimals.

    Raises:
        FileNotFoundError: a folder has none of the summary files.
    """
    labels = _labels(out_dirs, labels)
    header = "| method | images | " + " | ".join(c[0] for c in TABLE_COLUMNS) + " |\n"
    rows = [header, "|---|" + "---:|" * (len(TABLE_COLUMNS) + 1) + "\n"]
    for lbl, d in zip(labels, out_dirs, strict=True):
        d = Path(d)
        files = {name: d / name for name in {c[1] for c in TABLE_COLUMNS}}
        if not any(f.is_file() for f in files.values()):
            raise FileNotFoundError(
                f"{d} holds no benchmark summary (eval_bdry.txt, eval_cover.txt, "
                f"eval_RI_VOI.txt); run `jaxseg bench RESULTS --gt GT --out {d}` first"
            )
        tables = {name: read_table(f)[0] for name, f in files.items() if f.is_file()}
        cells = [f"{tables[f][col]:.3f}" if f in tables else "-" for _, f, col in TABLE_COLUMNS]
        rows.append(f"| {lbl} | {_image_count(d)} | " + " | ".join(cells) + " |\n")
    return "".join(rows)


def _image_count(out_dir: Path) -> str:
    for name in ("eval_bdry_img.txt", "eval_cover_img.txt"):
        if (out_dir / name).is_file():
            return str(read_table(out_dir / name).shape[0])
    return "-"
