"""`photoshare events report`: charts made from the log alone, with the right numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from photoshare.infra.cli.main import main
from photoshare.streams.report import fold, log_bins
from support.embedded import post_photo, register


def test_log_bins_are_powers_of_two() -> None:
    assert log_bins([0, 1, 2, 3, 4, 9]) == [("0", 1), ("1", 1), ("2-3", 2), ("4-7", 1),
                                            ("8-15", 1)]
    assert log_bins([]) == [("0", 0)]


def test_the_report_shows_what_the_log_says(client, settings, tmp_path, capsys) -> None:
    star, *fans = [register(client, f"reporter{n}") for n in range(4)]
    for fan in fans:
        client.put(f"/v1/users/me/following/{star.user_id}", headers=fan.auth)
    beach = post_photo(client, star, caption="#beach #sun")
    post_photo(client, star, caption="#beach")
    gone = post_photo(client, fans[0], caption="#gone")
    for fan in fans:
        client.put(f"/v1/photos/{beach['photo_id']}/likes/me", headers=fan.auth)
    client.delete(f"/v1/photos/{gone['photo_id']}", headers=fans[0].auth)

    out = tmp_path / "report.html"
    assert main(["events", "report", "--data-dir", str(settings.data_dir),
                 "--out", str(out)]) == 0
    assert "4 users, 2 photos" in capsys.readouterr().out
    page = out.read_text()
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == 5
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert "<td>#beach</td><td>2</td>" in page and "<td>#sun</td><td>1</td>" in page
    assert "#gone" in page  # hashtags count uses, deleted or not
    # follower counts: the star has 3 (bin 2-3), the three fans 0.
    followers, likes = page.split("<section>")[3], page.split("<section>")[5]
    assert "<td>0</td><td>3</td>" in followers and "<td>2-3</td><td>1</td>" in followers
    # likes per live photo: the beach photo has 3 (bin 2-3), the other 0.
    assert "<td>0</td><td>1</td>" in likes and "<td>2-3</td><td>1</td>" in likes
    assert fold([]).events == 0


def test_the_scale_is_linear_unless_the_counts_span_orders_of_magnitude() -> None:
    from photoshare.streams.report import wants_log_scale

    assert not wants_log_scale([1, 2, 3, 4])
    assert not wants_log_scale([0, 0, 1, 99])  # zeros are no magnitude
    assert wants_log_scale([1, 2, 187, 5800]) and wants_log_scale([1, 100])
    assert not wants_log_scale([])


def test_axis_ticks_are_round_and_cover_the_peak() -> None:
    from photoshare.streams.report import linear_ticks, log_ticks

    assert linear_ticks(4) == [0, 1, 2, 3, 4]
    assert linear_ticks(17) == [0, 5, 10, 15, 20]
    assert linear_ticks(5800) == [0, 2000, 4000, 6000]
    assert linear_ticks(0) == [0, 1]
    assert log_ticks(5800) == [1, 10, 100, 1000, 10000]


def test_hours_without_events_are_zero_bars_and_long_spans_are_per_day() -> None:
    from collections import Counter

    from photoshare.streams.report import time_series

    assert time_series(Counter({"2026-11-20 06:00": 2, "2026-11-20 09:00": 1})) == [
        ("2026-11-20 06:00", 2), ("2026-11-20 07:00", 0), ("2026-11-20 08:00", 0),
        ("2026-11-20 09:00", 1)]
    long = time_series(Counter({"2026-11-01 06:00": 2, "2026-11-01 07:00": 1,
                                "2026-11-20 09:00": 4}))
    assert long[0] == ("2026-11-01", 3) and long[-1] == ("2026-11-20", 4) and len(long) == 20
    assert time_series(Counter()) == []


def test_small_counts_are_full_width_labelled_linear_charts() -> None:
    from photoshare.streams.report import render

    events = [{"occurred_at": "2026-11-20T06:10:00+00:00", "event_type": "UserRegistered",
               "data": {"user_id": f"u{n}"}} for n in range(5)]
    events += [{"occurred_at": "2026-11-20T07:10:00+00:00", "event_type": "UserFollowed",
                "data": {"followee_id": "u0"}} for _ in range(4)]
    page = render(fold(events))
    followers = page.split("<section>")[3]
    svg = re.search(r"<svg[^>]*>", followers).group(0)
    assert "viewBox" in svg and " width=" not in svg  # it scales to the page's width
    assert "svg{display:block;width:100%" in page
    assert "log scale" not in followers
    # users with 0 followers: 4; with 4-7: 1. Each bar says its value.
    assert re.findall(r'class="value"[^>]*>([\d,]+)</text>', followers) == ["4", "0", "0", "1"]
    hashtags_and_likes = page.split("<section>")[4:]
    assert all("nothing in the log for this yet" in section for section in hashtags_and_likes[:1])
