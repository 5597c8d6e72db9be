"""Precision-recall curves of boundary benchmark results (matplotlib, Agg backend).

:func:`plot_pr` draws, for each benchmark output folder (one holding
``eval_bdry_thr.txt`` and ``eval_bdry.txt``), its pooled P-R curve over the thresholds
with its ODS point, over iso-F lines (F = 0.1 ... 0.9), like Fig. 2 (left) of Wang et al.
2020 and the BSDS500 plots. Legend entries read ``[F=.726] name``. Its command line is
``python eval.py plot OUT_DIR... --png FILE [--labels NAME...]`` (:mod:`jaxseg.cli.plot`).
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
                f"{f} not found; run `python eval.py bench --out {out_dir} ...` with the boundary "
                "benchmark first"
            )
    thr, summary = read_table(thr_file), read_table(sum_file)[0]
    if thr.shape[1] != 4 or summary.size != 8:
        raise ValueError(f"{out_dir}: unexpected columns in eval_bdry_thr.txt / eval_bdry.txt")
    return thr, summary


def plot_pr(
    out_dirs: Sequence[str | os.PathLike],
    png: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Draws the boundary P-R curves of several result folders into ``png`` (atomic write).

    Args:
        out_dirs: benchmark output folders.
        png: output image path.
        labels: legend names (default: folder names); as many as ``out_dirs``.
        title: optional title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(out_dirs) == 0:
        raise ValueError("give at least one benchmark output folder")
    if labels is not None and len(labels) != len(out_dirs):
        raise ValueError(
            f"got {len(labels)} labels for {len(out_dirs)} folders; give one per folder"
        )
    labels = list(labels) if labels is not None else [Path(d).name for d in out_dirs]
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=120)
    for f in np.arange(0.1, 1.0, 0.1):
        r = np.linspace(f / (2 - f), 1, 200)  # iso-F curve P = f R / (2R - f), P <= 1
        ax.plot(r, f * r / (2 * r - f), color="0.85", lw=0.8, zorder=0)
        ax.text(1.01, f / (2 - f), f"F={f:.1f}", color="0.6", fontsize=6, va="center")
    curves = [(lbl, *load_curve(d)) for lbl, d in zip(labels, out_dirs, strict=True)]
    curves.sort(key=lambda c: -c[2][3])
    for lbl, thr, summary in curves:
        keep = thr[:, 1] >= 1e-3
        (line,) = ax.plot(thr[keep, 1], thr[keep, 2], lw=1.5, label=f"[F={summary[3]:.3f}] {lbl}")
        ax.plot(summary[1], summary[2], "o", color=line.get_color(), ms=5)
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
