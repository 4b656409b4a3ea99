"""Render the main wirewatch dashboard panels from a Prometheus server to one SVG picture.

    python monitoring/render_dashboard.py --prometheus http://127.0.0.1:9090 \
        --minutes 10 --out monitoring/dashboard.svg

Where Grafana is not at hand (as on the development machines), this draws the same queries
as monitoring/grafana/dashboards/wirewatch.json from Prometheus' range API, less the
dashboard's job and instance filters (its Grafana variables: here everything Prometheus
scrapes is the one worker), so the README can show the dashboard made from a real run
(scripts/dashboard-snapshot.sh makes one).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html import escape
from pathlib import Path

PANELS = (
    ("Throughput (dispatches/s)", "dispatches/s", (
        ("consumed", "sum(rate(wirewatch_dispatches_consumed_total[1m]))"),
        ("enriched", "sum(rate(wirewatch_dispatches_enriched_total[1m]))"),
        ("dead-lettered", "sum(rate(wirewatch_dead_letters_total[1m]))"),
    )),
    ("Alerts by topic (per s)", "alerts/s", (
        ("{topic}", "sum by (topic) (rate(wirewatch_alerts_published_total[1m]))"),
    )),
    ("End-to-end latency (s)", "seconds", (
        ("p50", "histogram_quantile(0.5, sum by (le) "
                "(rate(wirewatch_end_to_end_latency_seconds_bucket[1m])))"),
        ("p95", "histogram_quantile(0.95, sum by (le) "
                "(rate(wirewatch_end_to_end_latency_seconds_bucket[1m])))"),
        ("p99", "histogram_quantile(0.99, sum by (le) "
                "(rate(wirewatch_end_to_end_latency_seconds_bucket[1m])))"),
    )),
    ("Consumer lag per partition (messages)", "messages", (
        ("partition {partition}", "sum by (partition) (wirewatch_consumer_lag_messages)"),
    )),
    ("Seconds since last processed, per partition", "seconds", (
        ("partition {partition}",
         "max by (partition) (wirewatch_seconds_since_last_processed)"),
    )),
    ("Dead letters by reason (per s)", "messages/s", (
        ("{reason}", "sum by (reason) (rate(wirewatch_dead_letters_total[1m])) > 0"),
    )),
)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
WIDTH, HEIGHT, COLUMNS = 560, 240, 2
MARGIN_LEFT, MARGIN_TOP, MARGIN_BOTTOM = 60, 34, 56


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]


def query_range(base: str, promql: str, start: float, end: float, step: float) -> list[dict]:
    params = urllib.parse.urlencode({"query": promql, "start": start, "end": end,
                                     "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=30) as reply:
        body = json.load(reply)
    if body.get("status") != "success":
        raise RuntimeError(f"{promql}: {body}")
    return list(body["data"]["result"])


def panel_series(base: str, queries: tuple[tuple[str, str], ...], start: float, end: float,
                 step: float) -> list[Series]:
    series = []
    for legend, promql in queries:
        for result in query_range(base, promql, start, end, step):
            points = [(float(t), float(v)) for t, v in result["values"]
                      if v not in ("NaN", "+Inf", "-Inf")]
            if points:
                series.append(Series(legend.format(**result["metric"]), points))
    return series


def draw_panel(title: str, unit: str, series: list[Series], x: float, y: float,
               start: float, end: float) -> str:
    left, top = x + MARGIN_LEFT, y + MARGIN_TOP
    width, height = WIDTH - MARGIN_LEFT - 20, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top_value = max((v for s in series for _, v in s.points), default=0.0) * 1.1 or 1.0
    parts = [f'<rect x="{x + 4}" y="{y + 4}" width="{WIDTH - 8}" height="{HEIGHT - 8}" '
             'fill="#fff" stroke="#ddd" rx="4"/>',
             f'<text x="{x + 14}" y="{y + 22}" font-size="14" font-weight="bold">'
             f'{escape(title)}</text>']
    for tick in range(5):
        value = top_value * tick / 4
        ty = top + height - height * tick / 4
        parts.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + width}" y2="{ty:.1f}" '
                     'stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{value:.3g}</text>')
    parts.append(f'<text x="{x + 14}" y="{top + height / 2}" font-size="10" '
                 f'transform="rotate(-90 {x + 14} {top + height / 2})" text-anchor="middle">'
                 f'{escape(unit)}</text>')
    span = max(end - start, 1.0)
    for number, item in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        path = " ".join(
            f"{left + width * (t - start) / span:.1f},{top + height - height * v / top_value:.1f}"
            for t, v in item.points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" '
                     f'points="{path}"/>')
        lx = left + (number % 4) * 120
        ly = top + height + 22 + (number // 4) * 14
        parts.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly - 4}" font-size="10">'
                     f'{escape(item.name)}</text>')
    if not series:
        parts.append(f'<text x="{left + width / 2}" y="{top + height / 2}" font-size="12" '
                     'text-anchor="middle" fill="#999">no data</text>')
    minutes = span / 60
    parts.append(f'<text x="{left + width}" y="{top + height + 12}" font-size="10" '
                 f'text-anchor="end">last {minutes:.0f} min</text>')
    return "\n".join(parts)


def render(base: str, minutes: float, end: float | None = None) -> str:
    end = end or time.time()
    start = end - minutes * 60
    step = max(minutes * 60 / 240, 1.0)
    rows = (len(PANELS) + COLUMNS - 1) // COLUMNS
    total_width, total_height = WIDTH * COLUMNS, HEIGHT * rows + 40
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(end))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_width}" '
             f'height="{total_height}" font-family="sans-serif">',
             f'<rect width="{total_width}" height="{total_height}" fill="#f7f7f7"/>',
             '<text x="14" y="26" font-size="18" font-weight="bold">wirewatch</text>',
             f'<text x="{total_width - 14}" y="26" font-size="12" text-anchor="end">'
             f'Prometheus, {escape(stamp)}</text>']
    for number, (title, unit, queries) in enumerate(PANELS):
        x = (number % COLUMNS) * WIDTH
        y = 40 + (number // COLUMNS) * HEIGHT
        parts.append(draw_panel(title, unit, panel_series(base, queries, start, end, step),
                                x, y, start, end))
    parts.append("</svg>")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("monitoring/dashboard.svg"))
    args = parser.parse_args()
    args.out.write_text(render(args.prometheus.rstrip("/"), args.minutes), encoding="utf-8")
    print(f"wrote {args.out}")  # noqa: T201 - a script reporting what it wrote


if __name__ == "__main__":
    main()
