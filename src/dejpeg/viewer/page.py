"""Self-contained HTML: a comparison page, a folder's index and the web app's page, each with the viewer's CSS and
JavaScript inline and its images as data URIs (or, in the app, from its own server), so nothing is fetched from
the network."""

from __future__ import annotations

import html
import json
from functools import cache
from importlib.resources import files

from dejpeg.viewer.compare import Comparison, png_data_uri

GENERATOR = "dejpeg compare"
HINT = "Drag the bar or use &larr; &rarr; (Shift: faster) to move the split; wheel, + and &minus; zoom; drag pans."


@cache
def asset(name: str) -> str:
    """A file of ``dejpeg/viewer/static`` (the viewer's CSS and JavaScript)."""
    return files("dejpeg.viewer").joinpath("static", name).read_text(encoding="utf-8")


def _document(title: str, body: str, scripts: tuple[str, ...] = (), kind: str = "dj-page") -> str:
    inline = "".join(f"<script>\n{asset(name)}</script>\n" for name in scripts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'  # no icon: browsers would ask the server for /favicon.ico
        f"<title>{html.escape(title)}</title>\n<style>\n{asset('viewer.css')}</style>\n</head>\n"
        f'<body class="{kind}">\n{body}\n{inline}</body>\n</html>\n'
    )


def viewer_markup(
    viewer_id: str, before_src: str, after_src: str, width: int, height: int, before_label: str, after_label: str
) -> str:
    """The toolbar and the viewer (``viewer.js`` brings it to life): ``before`` left of the split, ``after``
    right of it, both ``width`` x ``height`` pixels (0: images set later by script)."""
    button = '<button type="button" data-viewer="{id}" data-action="{action}" title="{title}">{text}</button>'
    buttons = "".join(
        button.format(id=viewer_id, action=action, title=title, text=text)
        for action, title, text in (
            ("fit", "whole image (f)", "Fit"),
            ("actual", "one image pixel per screen pixel (1)", "100 %"),
            ("out", "zoom out (&minus;)", "&minus;"),
            ("in", "zoom in (+)", "+"),
        )
    )
    sources = [f' src="{src}"' if src else "" for src in (before_src, after_src)]
    return (
        f'<div class="dj-toolbar">{buttons}<span class="dj-zoom" data-zoom-of="{viewer_id}"></span>'
        f'<span class="dj-hint">{HINT}</span></div>\n'
        f'<div class="dj-viewer" id="{viewer_id}" tabindex="0" data-width="{width}" data-height="{height}">\n'
        f'<div class="dj-layer dj-before"><img alt="{html.escape(before_label)}"{sources[0]}></div>\n'
        f'<div class="dj-layer dj-after"><img alt="{html.escape(after_label)}"{sources[1]}></div>\n'
        '<div class="dj-split" role="slider" tabindex="0" aria-label="split between before and after" '
        'aria-valuemin="0" aria-valuemax="100" aria-valuenow="50"><span class="dj-handle"></span></div>\n'
        f'<span class="dj-label dj-label-before">{html.escape(before_label)}</span>'
        f'<span class="dj-label dj-label-after">{html.escape(after_label)}</span>\n</div>'
    )


def quality_text(comparison: Comparison) -> str:
    kind = "IJG tables" if comparison.quality.exact else "nearest IJG quality, other tables"
    return f"{comparison.quality.quality} ({kind})"


def psnr_text(comparison: Comparison) -> str | None:
    """ "JPEG 27.02 dB, restored 28.77 dB (+1.75 dB)", or None without an original."""
    if comparison.psnr_jpeg is None or comparison.psnr_restored is None:
        return None
    gain = comparison.psnr_restored - comparison.psnr_jpeg
    return f"JPEG {comparison.psnr_jpeg:.2f} dB, restored {comparison.psnr_restored:.2f} dB ({gain:+.2f} dB)"


def comparison_page(comparison: Comparison, index_href: str | None = None) -> str:
    """The page of one comparison; ``index_href`` links back to a folder's index."""
    facts = comparison.summary()
    before, after = (png_data_uri(png) for png in comparison.view_pngs())
    lines = [
        f"<b>{facts['width']} &times; {facts['height']}</b> pixels, {comparison.jpeg_bytes / 1000:.1f} kB",
        f"estimated JPEG quality <b>{quality_text(comparison)}</b>",
        f"restored by <b>{html.escape(comparison.restored_by)}</b>",
    ]
    psnr = psnr_text(comparison)
    scores = "" if psnr is None else f"<br>PSNR against the original: <b>{psnr}</b>"
    back = f'<a href="{html.escape(index_href)}">&larr; all images</a> &middot; ' if index_href else ""
    body = (
        f"<h1>{html.escape(comparison.name)}</h1>\n"
        f'<p class="dj-facts">{back}{" &middot; ".join(lines)}{scores}</p>\n'
        + viewer_markup(
            "viewer", before, after, facts["width"], facts["height"], f"JPEG q{comparison.quality.quality}", "restored"
        )
        + f"\n<footer>Written by {GENERATOR}: one image pixel per screen pixel at 100 %.</footer>"
    )
    return _document(f"{comparison.name}: before and after", body, ("viewer.js",))


def index_page(title: str, entries: list[tuple[str, Comparison]]) -> str:
    """A folder's index: one row per ``(page href, comparison)``."""
    with_psnr = any(comparison.psnr_jpeg is not None for _, comparison in entries)
    head = "<th>image</th><th>pixels</th><th>kB</th><th>quality</th>" + (
        "<th>PSNR JPEG</th><th>PSNR restored</th><th>gain</th>" if with_psnr else ""
    )
    rows = []
    for href, comparison in entries:
        facts = comparison.summary()
        cells = [
            f'<a href="{html.escape(href)}">{html.escape(href.removesuffix(".html"))}</a>',
            f"{facts['width']} &times; {facts['height']}",
            f"{comparison.jpeg_bytes / 1000:.1f}",
            f"{comparison.quality.quality}" + ("" if comparison.quality.exact else " (nearest)"),
        ]
        if with_psnr:
            scores = (comparison.psnr_jpeg, comparison.psnr_restored)
            cells += [f"{s:.2f}" if s is not None else "" for s in scores]
            cells.append(f"{scores[1] - scores[0]:+.2f}" if None not in scores else "")
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    restorers = html.escape(", ".join(sorted({comparison.restored_by for _, comparison in entries})))
    psnr_note = "; PSNR in dB against the originals" if with_psnr else ""
    body = (
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="dj-facts">{len(entries)} image(s), restored by {restorers}{psnr_note}.</p>\n'
        f'<table class="dj-index"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(rows) + "\n</tbody></table>\n"
        f"<footer>Written by {GENERATOR}.</footer>"
    )
    return _document(title, body)


def app_page(model_name: str, max_bytes: int) -> str:
    """The page of ``dejpeg serve``: a drop zone, the list of uploads and the viewer (``app.js``)."""
    config = json.dumps({"maxBytes": max_bytes})
    body = (
        "<h1>dejpeg: remove JPEG artifacts</h1>\n"
        f'<p class="dj-facts">Restored here, on this computer, by <b>{html.escape(model_name)}</b>; '
        f"JPEG files up to {max_bytes / 1e6:g} MB.</p>\n"
        '<div class="dj-drop" id="drop">Drop JPEG files here, or '
        '<input type="file" id="files" accept=".jpg,.jpeg,.jpe,.jfif,image/jpeg" multiple></div>\n'
        '<div class="dj-jobs-head"><span id="overall"></span> '
        '<a class="dj-button" id="zip" hidden download>Download all (zip)</a></div>\n'
        '<ul class="dj-jobs" id="jobs"></ul>\n'
        '<section id="compare" hidden><h2 id="compare-title"></h2>\n'
        + viewer_markup("viewer", "", "", 0, 0, "JPEG", "restored")
        + "</section>\n"
        f'<script id="dj-config" type="application/json">{config}</script>'
    )
    return _document("dejpeg", body, ("viewer.js", "app.js"), "dj-app")
