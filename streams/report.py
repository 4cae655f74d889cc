"""An analyst's one-page report, made from the event log alone: uploads and new users per
hour (per day over long spans), the follower-count distribution, the most used hashtags,
and likes per photo. Self-contained HTML with inline SVG charts (nothing fetched from
anywhere): full width, every bar labelled with its value where there is room, and a
linear scale unless the counts span orders of magnitude.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# The SVGs scale to the page's width; these are their coordinate systems.
WIDTH, HEIGHT = 1000, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 44
ROW, LABEL_WIDTH = 26, 150  # horizontal charts: one row per bar, labels left of the bars
FONT = 13
CHAR_WIDTH = FONT * 0.62  # about, for a digit or letter of the page's sans-serif font
BAR_COLOUR, GRID_COLOUR, TEXT_COLOUR = "#2563eb", "#e5e7eb", "#111827"
# A log scale only when the largest non-zero count is at least this many times the
# smallest: on counts like 1-4 it would make 1 look like nothing and 4 like 2.
LOG_SCALE_RATIO = 100
# Hourly series longer than this are shown per day (more bars would be slivers).
MOST_HOURLY_BARS = 168


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


def wants_log_scale(values: Iterable[int]) -> bool:
    """A log scale when the non-zero counts span two orders of magnitude or more."""
    positive = [value for value in values if value > 0]
    return bool(positive) and max(positive) >= LOG_SCALE_RATIO * min(positive)


def linear_ticks(peak: int, most: int = 5) -> list[int]:
    """Round axis values from 0 to at least `peak`: steps of 1, 2 or 5 times a power of 10."""
    if peak <= 0:
        return [0, 1]
    raw = peak / most
    power = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return list(range(0, math.ceil(peak / step) * step + 1, step))


def log_ticks(peak: int) -> list[int]:
    return [10 ** e for e in range(0, max(1, math.ceil(math.log10(max(peak, 1)))) + 1)]


def time_series(counts: Counter[str]) -> list[tuple[str, int]]:
    """Per-hour counts (keys "YYYY-MM-DD HH:00") with the empty hours between the first
    and the last as 0, so the axis is time; per day ("YYYY-MM-DD") over long spans."""
    if not counts:
        return []
    hours = sorted(datetime.strptime(key, "%Y-%m-%d %H:%M") for key in counts)
    span = int((hours[-1] - hours[0]).total_seconds() // 3600) + 1
    if span <= MOST_HOURLY_BARS:
        every = (hours[0] + timedelta(hours=n) for n in range(span))
        return [(f"{hour:%Y-%m-%d %H:%M}", counts.get(f"{hour:%Y-%m-%d %H:%M}", 0))
                for hour in every]
    days: Counter[str] = Counter()
    for key, value in counts.items():
        days[key[:10]] += value
    first, last = hours[0].date(), hours[-1].date()
    return [(f"{day:%Y-%m-%d}", days.get(f"{day:%Y-%m-%d}", 0))
            for day in (first + timedelta(days=n) for n in range((last - first).days + 1))]


def _text(x: float, y: float, text: str, *, anchor: str = "middle", size: int = FONT,
          colour: str = TEXT_COLOUR, kind: str = "label") -> str:
    return (f'<text class="{kind}" x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
            f'fill="{colour}" text-anchor="{anchor}">{html.escape(text)}</text>')


def _short(label: str, first: bool = False) -> str:
    """An axis label: the hour of a "YYYY-MM-DD HH:MM" key (with the date on the first
    bar and at midnight), the month and day of a day."""
    if len(label) == 16 and label[10] == " ":
        return label[5:] if first or label[11:] == "00:00" else label[11:]
    return label[5:] if len(label) == 10 and label[4] == "-" else label


def _columns(bars: Sequence[tuple[str, int]], log_y: bool) -> list[str]:
    """A vertical bar chart: y axis with grid lines, bars, values above them, x labels."""
    peak = max((value for _, value in bars), default=0)
    ticks = log_ticks(peak) if log_y else linear_ticks(peak)
    top_value = ticks[-1]
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + inner_h

    def height(value: int) -> float:
        if value <= 0:
            return 0.0
        if log_y:  # 1 sits just above the axis, so a count of 1 stays visible
            return inner_h * (math.log10(value) + 0.15) / (math.log10(top_value) + 0.15)
        return inner_h * value / top_value

    parts = []
    for tick in ticks:
        y = base - height(tick) if tick else base
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID_COLOUR}"/>')
        parts.append(_text(LEFT - 8, y + FONT * 0.35, f"{tick:,}", anchor="end", kind="tick"))
    step = inner_w / max(1, len(bars))
    width = max(1.0, min(step * 0.8, 90))
    widest_value = max((len(f"{value:,}") for _, value in bars), default=1)
    every_value = widest_value * CHAR_WIDTH <= step
    peak_at = next(i for i, (_, value) in enumerate(bars) if value == peak)
    # Every x label if they fit, in a smaller font if need be, else every n-th.
    widest_label = max((len(_short(label)) for label, _ in bars), default=1)
    label_size = next((size for size in (FONT, FONT - 2, FONT - 3)
                       if (widest_label + 1) * CHAR_WIDTH * size / FONT <= step), FONT - 2)
    label_every = max(1, math.ceil((widest_label + 1) * CHAR_WIDTH * label_size / FONT / step))
    for i, (label, value) in enumerate(bars):
        centre = LEFT + (i + 0.5) * step
        h = height(value)
        parts.append(f'<rect x="{centre - width / 2:.1f}" y="{base - h:.1f}" '
                     f'width="{width:.1f}" height="{h:.1f}" fill="{BAR_COLOUR}">'
                     f'<title>{html.escape(label)}: {value:,}</title></rect>')
        if every_value or i == peak_at:  # no room for all: the peak's at least
            parts.append(_text(centre, base - h - 5, f"{value:,}", kind="value"))
        if i % label_every == 0:
            parts.append(_text(centre, base + FONT + 6, _short(label, first=i == 0),
                               size=label_size))
    return parts


def _clip(label: str, most: int = int((LABEL_WIDTH - 12) / CHAR_WIDTH)) -> str:
    """A label that fits left of the bars (the whole one is in the bar's title and the
    data table)."""
    return label if len(label) <= most else label[:most - 1] + "…"


def _rows(bars: Sequence[tuple[str, int]]) -> tuple[list[str], int]:
    """A horizontal bar chart (labels on the left, values at the bars' ends); its height."""
    peak = max((value for _, value in bars), default=0) or 1
    widest_value = max((len(f"{value:,}") for _, value in bars), default=1)
    room = WIDTH - LABEL_WIDTH - RIGHT - 12 - widest_value * CHAR_WIDTH
    parts = []
    for i, (label, value) in enumerate(bars):
        y = TOP / 2 + i * ROW
        w = room * value / peak
        parts.append(_text(LABEL_WIDTH - 8, y + ROW * 0.55, _clip(label), anchor="end"))
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + ROW * 0.15:.1f}" width="{w:.1f}" '
                     f'height="{ROW * 0.7:.1f}" fill="{BAR_COLOUR}"><title>'
                     f'{html.escape(label)}: {value:,}</title></rect>')
        parts.append(_text(LABEL_WIDTH + w + 6, y + ROW * 0.55, f"{value:,}", anchor="start",
                           kind="value"))
    return parts, int(TOP + len(bars) * ROW)


def _chart(title: str, bars: Sequence[tuple[str, int]], *, columns: tuple[str, str],
           note: str = "", horizontal: bool = False) -> str:
    """One titled SVG chart, with its data also in a <table> (for screen readers and for
    copying). Vertical charts pick their scale: linear, or log over orders of magnitude."""
    log_y = not horizontal and wants_log_scale(value for _, value in bars)
    if not bars:
        svg = '<p class="empty">nothing in the log for this yet</p>'
    else:
        parts, height = _rows(bars) if horizontal else (_columns(bars, log_y), HEIGHT)
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
               f'role="img" aria-label="{html.escape(title)}" '
               f'font-family="system-ui, sans-serif">{"".join(parts)}</svg>')
    scale = ("log scale: the counts span orders of magnitude" if log_y else "")
    caption = "; ".join(text for text in (note, scale) if text)
    rows = "".join(f"<tr><td>{html.escape(label)}</td><td>{value:,}</td></tr>"
                   for label, value in bars)
    return (f"<section><h2>{html.escape(title)}</h2>"
            + (f'<p class="note">{html.escape(caption)}</p>' if caption else "")
            + f"{svg}<details><summary>Data</summary><table><tr><th>{columns[0]}</th>"
            f"<th>{columns[1]}</th></tr>{rows}</table></details></section>")


STYLE = ("body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;"
         "padding:0 1.5rem;color:#111827}h2{margin:2.2rem 0 .3rem;font-size:1.25rem}"
         "svg{display:block;width:100%;height:auto}.note,.empty{color:#4b5563;margin:.2rem 0 "
         ".6rem}table{border-collapse:collapse;margin-top:.4rem}td,th{padding:2px 8px;"
         "border:1px solid #ddd;text-align:left}td+td{text-align:right}")


def render(figures: Figures) -> str:
    """The report as one self-contained HTML page."""
    followers = [figures.followers.get(user, 0) for user in figures.users]
    span = (f"{figures.first:%Y-%m-%d %H:%M} to {figures.last:%Y-%m-%d %H:%M} UTC"
            if figures.first and figures.last else "no events")
    uploads, signups = time_series(figures.uploads_per_hour), time_series(
        figures.signups_per_hour)
    per = "day" if uploads and len(uploads[0][0]) == 10 else "hour"
    per_signups = "day" if signups and len(signups[0][0]) == 10 else "hour"
    charts = [
        _chart(f"Uploads per {per}", uploads, columns=(per, "uploads"),
               note="times in UTC"),
        _chart(f"New users per {per_signups}", signups, columns=(per_signups, "new users"),
               note="times in UTC"),
        _chart("Follower-count distribution", log_bins(followers),
               columns=("followers", "users"),
               note="how many users have 0, 1, 2-3, 4-7, ... followers"),
        _chart("Most used hashtags", [(f"#{tag}", n) for tag, n in
                                      figures.hashtags.most_common(15)],
               columns=("hashtag", "photos"), note="the 15 most used, deleted photos included",
               horizontal=True),
        _chart("Likes per photo", log_bins(figures.likes.values()),
               columns=("likes", "photos"),
               note="how many live photos have 0, 1, 2-3, 4-7, ... likes"),
    ]
    summary = (f"{figures.events:,} events, {len(figures.users):,} users, "
               f"{len(figures.likes):,} live photos, {sum(figures.likes.values()):,} likes; "
               f"{span}")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>photoshare: the platform at a glance</title><style>{STYLE}</style>"
            "</head><body>"
            f"<h1>photoshare: the platform at a glance</h1><p>{html.escape(summary)}</p>"
            + "".join(charts) + "</body></html>")
