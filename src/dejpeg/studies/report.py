"""Plots, an example grid and a one-page HTML report for a study's results folder.

Plots need matplotlib (the ``plots`` extra); without it the tables and the report are still written and
the report says which plots are missing. The example grid needs only Pillow.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from dejpeg.files import atomic_write_bytes

Series = dict[str, tuple[Sequence[float], Sequence[float]]]


@dataclass
class Section:
    """One part of the report: text, then figures (files in the results folder), then tables."""

    title: str
    text: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)


def percent(value: float) -> str:
    """A share as "38.7 %", rounding the stored decimal half up (binary floats would print 0.3865 as 38.6)."""
    return f"{(Decimal(str(value)) * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)} %"


def spans(values: Sequence[int]) -> str:
    """Integers as runs, "1-3, 5, 8-10", for sentences that name many qualities."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(buf.getvalue(), path)


# Where a point label may go, tried in order: (dx, dy) in points, horizontal and vertical alignment.
_LABEL_SPOTS = [(4, 4, "left", "bottom"), (4, -4, "left", "top"), (-4, 4, "right", "bottom"), (-4, -4, "right", "top")]


def label_points(ax: Any, points: Sequence[tuple[float, float]], texts: Sequence[str]) -> None:
    """Label points where the label overlaps no marker, other label or the frame; a label with no free spot
    is left out (nearly coincident points, e.g. QF 1 and 2, would otherwise print on top of each other)."""
    from matplotlib.transforms import Bbox

    ax.figure.canvas.draw()  # fixes the limits and the legend's place
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pad = 3.0
    legend = ax.get_legend()
    taken = [legend.get_window_extent(renderer)] if legend else []
    for x, y in points:
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox.from_extents(px - pad, py - pad, px + pad, py + pad))
    for (x, y), text in zip(points, texts):
        for dx, dy, ha, va in _LABEL_SPOTS:
            note = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, va=va, fontsize=7)
            box = note.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(t) for t in taken):
                taken.append(box)
                break
            note.remove()


def line_plot(
    path: Path,
    series: Series,
    xlabel: str,
    ylabel: str,
    title: str,
    labels: dict[str, Sequence[str]] | None = None,
    lines: bool = True,
    hlines: dict[str, float] | None = None,
    invert_x: bool = False,
    legend_outside: bool = False,
    ticks_at_x: bool = False,
    log_x: bool = False,
) -> bool:
    """One curve (or point cloud, ``lines=False``) per series, optional point labels (placed so they do not
    overlap) and horizontal reference lines; the legend (only with several series) goes right of the axes
    with ``legend_outside``, for plots whose curves fill the frame; ``ticks_at_x`` puts a tick at each x;
    ``log_x`` for x values spread over decades (data-set sizes).
    Returns False when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, (x, y) in series.items():
        ax.plot(x, y, "o-" if lines else "o", label=name, markersize=4)
    for name, value in (hlines or {}).items():
        ax.axhline(value, linestyle="--", color="gray", linewidth=1)
        ax.annotate(
            name,
            (0.01, value),
            xycoords=("axes fraction", "data"),
            fontsize=8,
            color="gray",
            xytext=(0, 2),
            textcoords="offset points",
        )
    if invert_x:
        ax.invert_xaxis()
    if log_x:
        ax.set_xscale("log")
    if ticks_at_x:  # one tick per x value (qualities, epochs): no fractional ticks, none around a lone point
        ticks = sorted({xi for x, _ in series.values() for xi in x})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    ax.margins(0.08)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        if legend_outside:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        else:
            ax.legend(fontsize=8)
    if labels:
        points = [(xi, yi) for name in series for xi, yi in zip(*series[name])]
        texts = [t for name in series for t in labels.get(name, [""] * len(series[name][0]))]
        label_points(ax, points, texts)
    _save(fig, path)
    plt.close(fig)
    return True


def paired_scatter(
    path: Path,
    pairs: dict[int, tuple[tuple[float, float], tuple[float, float]]],
    names: tuple[str, str],
    xlabel: str,
    ylabel: str,
    title: str,
    colour_label: str,
) -> bool:
    """Two points per key (e.g. JPEG and restored at one quality) joined by a line, coloured by the key with a
    colour bar instead of text labels (which overlap where the points crowd). Returns False without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    from matplotlib.colors import BoundaryNorm

    keys = sorted(pairs)
    cmap = plt.get_cmap("viridis", len(keys))
    colour = {k: cmap(i) for i, k in enumerate(keys)}
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for k in keys:
        (x0, y0), (x1, y1) = pairs[k]
        ax.plot([x0, x1], [y0, y1], "-", color=colour[k], linewidth=1, alpha=0.6)
    for i, (name, marker) in enumerate(zip(names, ("o", "^"))):
        xs = [pairs[k][i][0] for k in keys]
        ys = [pairs[k][i][1] for k in keys]
        ax.scatter(xs, ys, c=[colour[k] for k in keys], marker=marker, s=36, edgecolors="black", linewidths=0.5)
        ax.scatter([], [], marker=marker, facecolors="white", edgecolors="black", label=name)
    if len(keys) > 1:  # one key needs no scale: the title names it
        bounds = np.arange(len(keys) + 1) - 0.5
        mappable = plt.cm.ScalarMappable(cmap=cmap, norm=BoundaryNorm(bounds, cmap.N))
        bar = fig.colorbar(mappable, ax=ax, ticks=range(len(keys)))
        bar.ax.set_yticklabels([str(k) for k in keys])
        bar.set_label(colour_label)
    else:
        title = f"{title}, {colour_label} {keys[0]}"
    ax.margins(0.08)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)
    return True


def bar_plot(path: Path, groups: dict[str, dict[str, float]], ylabel: str, title: str) -> bool:
    """Grouped bars: ``groups[group][bar] = value``; returns False when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return False
    bars = list(dict.fromkeys(b for g in groups.values() for b in g))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    width = 0.8 / max(1, len(bars))
    for i, bar in enumerate(bars):
        xs = [j + i * width for j in range(len(groups))]
        values = [groups[g].get(bar, np.nan) for g in groups]
        ax.bar(xs, values, width=width, label=bar)
        for x, v in zip(xs, values):
            if np.isfinite(v):
                ax.annotate(f"{v:.3f}", (x, v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks([j + width * (len(bars) - 1) / 2 for j in range(len(groups))], list(groups))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)
    plt.close(fig)
    return True


def heat_map(
    path: Path,
    values: Sequence[Sequence[float]],
    rows: Sequence[str],
    columns: Sequence[str],
    xlabel: str,
    ylabel: str,
    title: str,
    value_label: str,
) -> bool:
    """A matrix as coloured cells with their values printed (NaN: an empty cell), rows top to bottom; returns
    False when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return False
    grid = np.asarray(values, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(columns), 1.2 + 0.55 * len(rows)))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto")
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            colour = "black" if v > middle else "white"
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(columns)), list(columns))
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(image, ax=ax).set_label(value_label)
    _save(fig, path)
    plt.close(fig)
    return True


def image_grid(path: Path, rows: list[list[np.ndarray]], captions: list[list[str]], cell: int = 128) -> None:
    """Images in a grid, each scaled (nearest neighbour, so JPEG blocks stay visible) to ``cell`` px wide
    with its caption underneath; written as PNG."""
    if not rows:
        raise ValueError("no images for the grid")
    columns = max(len(r) for r in rows)
    caption_h = 28
    heights = [max(int(round(im.shape[0] * cell / im.shape[1])) for im in row) for row in rows]
    canvas = Image.new("RGB", (columns * (cell + 6) + 6, sum(h + caption_h + 6 for h in heights) + 6), "white")
    draw = ImageDraw.Draw(canvas)
    top = 6
    for row, texts, height in zip(rows, captions, heights):
        for j, (image, text) in enumerate(zip(row, texts)):
            left = 6 + j * (cell + 6)
            scaled = Image.fromarray(image).resize(
                (cell, int(round(image.shape[0] * cell / image.shape[1]))), Image.Resampling.NEAREST
            )
            canvas.paste(scaled, (left, top))
            for k, line in enumerate(text.split("\n")[:2]):
                draw.text((left, top + height + 2 + 12 * k), line[:24], fill="black")
        top += height + caption_h + 6
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    atomic_write_bytes(buf.getvalue(), path)


def _cell(value: Any) -> str:
    """A table cell; a missing value (None: not applicable, e.g. the PSNR of the original) shows as a dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(caption: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"<p><em>{html.escape(caption)}: no rows</em></p>"
    columns = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def write_report(
    path: Path, title: str, findings: list[str], sections: list[Section], missing_plots: list[str]
) -> None:
    """One self-contained HTML page (figures referenced by relative path, so the folder can be moved) that opens
    with the findings, so a reader gets the conclusion before the setup and the tables."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}",
        "img{max-width:520px;margin:4px;border:1px solid #ddd;vertical-align:top}",
        "table{border-collapse:collapse;margin:1em 0;font-size:0.85em}",
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}caption{font-weight:bold;text-align:left}",
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Findings</h2>",
        "<p>" + " ".join(html.escape(f) for f in findings) + "</p>",
    ]
    if missing_plots:
        names = html.escape(", ".join(missing_plots))
        parts.append(f"<p><strong>Plots not drawn (matplotlib is not installed):</strong> {names}</p>")
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f"<p>{html.escape(t)}</p>" for t in section.text]
        parts += [f"<a href='{f}'><img src='{f}' alt='{f}'></a>" for f in map(html.escape, section.figures)]
        parts += [_table(caption, rows) for caption, rows in section.tables]
    parts.append("</body></html>")
    atomic_write_bytes("\n".join(parts).encode(), path)
