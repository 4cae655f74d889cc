"""An analyst's one-page report, made from the event log alone: uploads and new users per
hour, the follower-count distribution on a log scale, the most used hashtags, and likes
per photo. Self-contained HTML with inline SVG charts (nothing fetched from anywhere).
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

WIDTH, HEIGHT, MARGIN = 720, 260, 48


@dataclass
class Figures:
    """What the log says, folded once."""

    events: int = 0
    first: datetime | None = None
    last: datetime | None = None
    uploads_per_hour: Counter[str] = field(default_factory=Counter)
    signups_per_hour: Counter[str] = field(default_factory=Counter)
    followers: Counter[str] = field(default_factory=Counter)
    users: set[str] = field(default_factory=set)
    hashtags: Counter[str] = field(default_factory=Counter)
    likes: dict[str, int] = field(default_factory=dict)  # live photo -> likes


def fold(events: Iterable[dict[str, Any]]) -> Figures:
    """Fold envelope dicts (as `streams.analytics.iter_events` yields them) into figures."""
    figures = Figures()
    for envelope in events:
        when = envelope["occurred_at"]
        when = datetime.fromisoformat(when) if isinstance(when, str) else when
        hour = when.strftime("%Y-%m-%d %H:00")
        figures.events += 1
        figures.first = figures.first or when
        figures.last = when
        data = envelope["data"]
        match envelope["event_type"]:
            case "UserRegistered":
                figures.users.add(data["user_id"])
                figures.signups_per_hour[hour] += 1
            case "PhotoPosted":
                figures.uploads_per_hour[hour] += 1
                figures.hashtags.update(data["hashtags"])
                figures.likes[data["photo_id"]] = 0
            case "PhotoDeleted":
                figures.likes.pop(data["photo_id"], None)
            case "UserFollowed":
                figures.followers[data["followee_id"]] += 1
            case "UserUnfollowed":
                figures.followers[data["followee_id"]] -= 1
            case "PhotoLiked" if data["photo_id"] in figures.likes:
                figures.likes[data["photo_id"]] += 1
            case "PhotoUnliked" if data["photo_id"] in figures.likes:
                figures.likes[data["photo_id"]] -= 1
    return figures


def log_bins(values: Iterable[int]) -> list[tuple[str, int]]:
    """Counts of values in bins 0, 1, 2-3, 4-7, 8-15, ... (powers of two)."""
    counts: Counter[int] = Counter()
    for value in values:
        counts[0 if value <= 0 else int(math.log2(value)) + 1] += 1
    labels = []
    for b in range(max(counts, default=0) + 1):
        low, high = (0, 0) if b == 0 else (2 ** (b - 1), 2 ** b - 1)
        labels.append((str(low) if low == high else f"{low}-{high}", counts[b]))
    return labels


def _bars(title: str, bars: Sequence[tuple[str, int]], *, log_y: bool = False,
          horizontal: bool = False) -> str:
    """One SVG bar chart, with its data also in a <table> for screen readers."""
    peak = max((v for _, v in bars), default=0)

    def scale(value: int) -> float:
        if peak <= 0 or value <= 0:
            return 0.0
        return math.log10(value + 1) / math.log10(peak + 1) if log_y else value / peak

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'role="img" aria-label="{html.escape(title)}">']
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    # A few bars stay bar-shaped rather than filling the chart.
    step = min((inner_h if horizontal else inner_w) / max(1, len(bars)), 28 if horizontal else 60)
    for i, (label, value) in enumerate(bars):
        text, number = html.escape(label), f"{value:,}"
        if horizontal:
            y, w = MARGIN + i * step, scale(value) * (inner_w - 120)
            parts.append(f'<rect x="{MARGIN + 120}" y="{y:.1f}" width="{w:.1f}" '
                         f'height="{step * 0.8:.1f}" fill="#3b82f6"><title>{text}: {number}'
                         f'</title></rect><text x="{MARGIN + 115}" y="{y + step * 0.6:.1f}" '
                         f'font-size="11" text-anchor="end">{text}</text>'
                         f'<text x="{MARGIN + 124 + w:.1f}" y="{y + step * 0.6:.1f}" '
                         f'font-size="11">{number}</text>')
        else:
            h = scale(value) * inner_h
            x = MARGIN + i * step
            parts.append(f'<rect x="{x:.1f}" y="{MARGIN + inner_h - h:.1f}" '
                         f'width="{max(1.0, step * 0.8):.1f}" height="{h:.1f}" fill="#3b82f6">'
                         f'<title>{text}: {number}</title></rect>')
            if len(bars) <= 24 or i % max(1, len(bars) // 12) == 0:
                parts.append(f'<text x="{x:.1f}" y="{HEIGHT - MARGIN + 14}" font-size="10">'
                             f'{text[-5:] if ":" in text else text}</text>')
    if not horizontal:
        parts.append(f'<text x="4" y="{MARGIN - 8}" font-size="11">max {peak:,}'
                     f'{" (log scale)" if log_y else ""}</text>')
    parts.append("</svg>")
    rows = "".join(f"<tr><td>{html.escape(label)}</td><td>{value:,}</td></tr>"
                   for label, value in bars)
    return (f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}<details><summary>Data"
            f"</summary><table><tr><th>bin</th><th>count</th></tr>{rows}</table></details>"
            f"</section>")


def render(figures: Figures) -> str:
    """The report as one self-contained HTML page."""
    followers = [figures.followers.get(user, 0) for user in figures.users]
    span = (f"{figures.first:%Y-%m-%d %H:%M} to {figures.last:%Y-%m-%d %H:%M} UTC"
            if figures.first and figures.last else "no events")
    charts = [
        _bars("Uploads per hour", sorted(figures.uploads_per_hour.items())),
        _bars("New users per hour", sorted(figures.signups_per_hour.items())),
        _bars("Follower-count distribution (users per follower-count bin, log scale)",
              log_bins(followers), log_y=True),
        _bars("Most used hashtags", [(f"#{tag}", n) for tag, n in
                                     figures.hashtags.most_common(15)], horizontal=True),
        _bars("Likes per photo (photos per like-count bin, log scale)",
              log_bins(figures.likes.values()), log_y=True),
    ]
    summary = (f"{figures.events:,} events, {len(figures.users):,} users, "
               f"{len(figures.likes):,} live photos, {sum(figures.likes.values()):,} likes; "
               f"{span}")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>photoshare: the platform at a glance</title><style>body{font-family:"
            "system-ui,sans-serif;margin:2rem;max-width:760px}table{border-collapse:collapse}"
            "td,th{padding:2px 8px;border:1px solid #ddd}</style></head><body>"
            f"<h1>photoshare: the platform at a glance</h1><p>{html.escape(summary)}</p>"
            + "".join(charts) + "</body></html>")
