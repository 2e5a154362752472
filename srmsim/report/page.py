"""A self-contained HTML page: escaped text, tables and figures embedded as base64 PNG.

Nothing on the page is fetched from a network: styles are inline and every figure is a ``data:``
URI, so a report can be e-mailed, archived or opened offline. All text that comes from users
(scenario names, descriptions, variant names) goes through :func:`esc`: escaped, and with its
control characters (the bidirectional overrides that reorder text on screen, U+202E) shown as
their escapes, so a name edited into a folder's files can neither add markup nor disguise
itself.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from srmsim import __version__
from srmsim.labels import page_text

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;max-width:1240px;
margin:2em auto;padding:0 1em;color:#1b1b1b;line-height:1.45;overflow-wrap:break-word}
h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #dde;
padding-bottom:.2em}h3{margin-top:1.2em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.92em;display:block;overflow-x:auto;
max-width:100%}
th,td{border:1px solid #ccd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f2f7}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.better{color:#1a7f37;font-weight:600}.worse{color:#b42318;font-weight:600}
.note{background:#f6f8fa;border-left:4px solid #8aa;padding:.6em 1em;margin:1em 0}
.meta{color:#555}figure{margin:1em 0}figure img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}
#effects{font-size:.85em}#effects td,#effects th{padding:.25em .45em}
.headline{font-size:1.05em}.headline li{margin:.3em 0}
footer{margin-top:3em;color:#777;font-size:.85em}
"""

def interval_note(level: str) -> str:
    """What a simulation interval is (``level`` as printed: ``95%``)."""
    return (f"Intervals are <b>{level} simulation intervals</b>: they show the Monte-Carlo "
            "uncertainty of the simulation under the model's assumptions (how much the answer "
            "would move with more replications). They are not a forecast of what will happen "
            "in a real trust, which also depends on how well the model's assumptions and the "
            "actions' effect sizes fit it.")

#: marks a page srmsim wrote: ``report --out FILE`` replaces an existing file only if it holds
#: this near its top (a user's own HTML page is never overwritten)
GENERATOR_TAG = "<meta name='generator' content='srmsim report'>"


def esc(text: Any) -> str:
    """``text`` safe in an element or a quoted attribute: HTML escaped, control and
    bidirectional characters visible as escapes (``\\u202e``), never applied
    (:func:`srmsim.labels.page_text`)."""
    return html.escape(page_text(str(text)), quote=True)


def figure_png(fig: Any, dpi: int = 110) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI."""
    from srmsim.figures import png_bytes

    return png_uri(png_bytes(fig, dpi))


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


class Page:
    """Builds one report page; every method escapes what it is given unless told it is HTML."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self.parts: list[str] = [f"<h1>{esc(title)}</h1>"]
        if subtitle:
            self.parts.append(f"<p class='meta'>{esc(subtitle)}</p>")
        self._figures = 0

    def h2(self, text: str, anchor: str = "") -> None:
        a = f" id='{esc(anchor)}'" if anchor else ""
        self.parts.append(f"<h2{a}>{esc(text)}</h2>")

    def h3(self, text: str) -> None:
        self.parts.append(f"<h3>{esc(text)}</h3>")

    def p(self, text: str, cls: str = "") -> None:
        c = f" class='{cls}'" if cls else ""
        self.parts.append(f"<p{c}>{esc(text)}</p>")

    def raw(self, markup: str) -> None:
        """Markup built by this package (never user text)."""
        self.parts.append(markup)

    def note(self, markup: str) -> None:
        self.parts.append(f"<div class='note'>{markup}</div>")

    def bullets(self, items: list[str], cls: str = "") -> None:
        c = f" class='{cls}'" if cls else ""
        self.parts.append(f"<ul{c}>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")

    def definitions(self, rows: list[tuple[str, str]]) -> None:
        body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        self.parts.append(f"<table>{body}</table>")

    def table(self, df: pd.DataFrame, numeric: set[str] | frozenset[str] = frozenset(),
              table_id: str = "", verdict: str | None = None,
              raw: pd.DataFrame | None = None,
              headings: Mapping[str, str] | None = None) -> None:
        """A table of already-formatted text; ``numeric`` columns right-aligned; cells of the
        ``verdict`` column get a colour class (better/worse). ``raw``: the unrounded numbers
        behind some columns (same row order), kept in each cell's ``data-value`` so that
        readers and tests can check the page against the CSV files. ``headings``: readable
        headings of some columns, whose cells keep the column's name in ``data-col``."""
        tid = f" id='{esc(table_id)}'" if table_id else ""
        head = "".join(f"<th>{esc((headings or {}).get(c, c))}</th>" for c in df.columns)
        rows = []
        for i, rec in enumerate(df.itertuples(index=False)):
            cells = []
            for col, value in zip(df.columns, rec, strict=True):
                data = ""
                if raw is not None and col in raw.columns:
                    data = f" data-value='{float(raw[col].iloc[i]):.10g}'"
                cls = []
                if col in numeric:
                    cls.append("num")
                if verdict is not None and col == verdict and value in ("better", "worse"):
                    cls.append(str(value))
                c = f" class='{' '.join(cls)}'" if cls else ""
                cells.append(f"<td{c} data-col='{esc(col)}'{data}>{esc(value)}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        self.parts.append(f"<table{tid}><thead><tr>{head}</tr></thead><tbody>"
                          + "".join(rows) + "</tbody></table>")

    def figure(self, fig: Any, caption: str, alt: str | None = None) -> None:
        self._image(figure_png(fig), caption, alt)

    def png(self, data: bytes, caption: str, alt: str | None = None) -> None:
        """A PNG a command already wrote (its bytes), embedded like a figure."""
        self._image(png_uri(data), caption, alt)

    def _image(self, uri: str, caption: str, alt: str | None) -> None:
        self._figures += 1
        self.parts.append(f"<figure><img src='{uri}' alt='{esc(alt or caption)}'>"
                          f"<figcaption>Figure {self._figures}. {esc(caption)}</figcaption>"
                          "</figure>")

    def render(self) -> str:
        made = time.strftime("%Y-%m-%d %H:%M")
        return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                + GENERATOR_TAG +
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{esc(self.title)}</title><style>{STYLE}</style></head><body>"
                + "\n".join(self.parts)
                + f"<footer>Made by srmsim {esc(__version__)} on {esc(made)}. srmsim is a "
                "simulation: every figure here is simulated, not observed.</footer>"
                "</body></html>\n")
