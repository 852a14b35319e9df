"""The report's page, drawn with pygal (inline SVG): the child side of :mod:`._report`.

Run as ``python -m codetether.daemon.core.records.telemetry._charts OUT.html`` with the page
spec (JSON, built by :func:`._report.report_spec`) on stdin: it writes the page
atomically and exits 0, or prints one line of error and exits 1. The daemon runs it
in a child process so that pygal and the SVG trees are never loaded into the
long-lived daemon (a plotly report used to leave ~12 MB behind per call, R2).

The page is self-contained: pygal's CSS is inlined and its tooltip script (fetched
from the network by default) is switched off; every chart is a static ``<svg>``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["render_page", "write_page"]

_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:1em 0}"
    "th,td{text-align:left;padding:2px 12px}td.n{text-align:right}figure{margin:2em 0}"
    "figure svg{width:100%;height:auto}h2{font-size:1.1em}"
)


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)


def _pygal() -> Any:
    import pygal

    # pygal appends a legacy finder (for its map plugins, unused here) to sys.meta_path;
    # it makes every later failed import warn, so take it out again.
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "pygal"]
    return pygal


def _config() -> Any:
    pygal = _pygal()

    config = pygal.Config()
    config.js = []  # the default loads pygal-tooltips.js from kozea.github.io: no network
    config.width, config.height = 960, 420
    config.legend_at_bottom = True
    config.truncate_legend = 40
    config.x_label_rotation = 20
    config.human_readable = True
    return config


def _chart(spec: dict[str, Any]) -> str:
    pygal = _pygal()

    config = _config()
    config.title = spec["title"]
    config.y_title = spec.get("y_title", "")
    kind = spec["kind"]
    if kind == "time":
        chart = pygal.DateTimeLine(config, x_value_formatter=lambda t: t.strftime("%m-%d %H:%M"))
        for name, points in spec["series"].items():
            chart.add(name, [(dt.datetime.fromtimestamp(t, tz=dt.UTC), v) for t, v in points])
    elif kind == "box":
        chart = pygal.Box(config, box_mode="tukey", show_legend=False)
        chart.x_labels = list(spec["series"])
        for name, values in spec["series"].items():
            chart.add(name, values)
    else:  # "bar": one group per label, one bar per series
        chart = pygal.Bar(config, show_legend=len(spec["series"]) > 1)
        if "range" in spec:
            chart.range = tuple(spec["range"])
        chart.x_labels = spec["labels"]
        for name, values in spec["series"].items():
            chart.add(name, values)
    if not spec.get("series") or not any(spec["series"].values()):
        chart.no_data_text = "no data"
    # pygal embeds its config as a script for its tooltip JS, which we do not load: drop it.
    return _SCRIPT.sub("", str(chart.render(is_unicode=True)))


def _table(rows: list[list[Any]], header: list[str] | None = None) -> str:
    def cell(v: Any, tag: str) -> str:
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
        return f"<{tag}{' class=n' if numeric and tag == 'td' else ''}>{html.escape(str(v))}</{tag}>"

    head = "<tr>" + "".join(cell(h, "th") for h in header) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + "".join(cell(v, "th" if i == 0 and not header else "td") for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def render_page(spec: dict[str, Any]) -> str:
    """The whole HTML page for a spec from :func:`._report.report_spec`."""
    parts = [
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>codetether telemetry</title>",
        f"<style>{_STYLE}</style></head><body><h1>codetether telemetry</h1>",
        _table(spec["summary"]),
    ]
    for chart in spec["charts"]:
        parts.append(f"<figure>{_chart(chart)}</figure>")
    for table in spec.get("tables", []):
        parts.append(f"<h2>{html.escape(table['title'])}</h2>" + _table(table["rows"], table["header"]))
    parts.append("</body></html>\n")
    return "".join(parts)


def write_page(spec: dict[str, Any], path: Path) -> None:
    """Render and write atomically: a reader never sees half a page."""
    page = render_page(spec)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m codetether.daemon.core.records.telemetry._charts OUT.html < spec.json", file=sys.stderr)
        return 2
    try:
        write_page(json.load(sys.stdin), Path(argv[0]))
    except ImportError as exc:
        print(f"the HTML report needs pygal ({exc}): pip install pygal", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot write {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
