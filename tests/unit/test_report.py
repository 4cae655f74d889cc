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
