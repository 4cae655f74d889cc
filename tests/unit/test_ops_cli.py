"""The operators' and analysts' commands (`photoshare events export|tail|trace`,
`photoshare projections status`) on a data dir built through the real app."""

from __future__ import annotations

import json
import time
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from photoshare.commands import CommandContext
from photoshare.commands.messages import RegisterUser
from photoshare.infra.roots.embedded import create_embedded_app, open_event_store
from photoshare.infra.cli.main import main
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import bindings, open_views
from photoshare.streams.analytics import iter_events, read_export
from photoshare.streams.runner import ProjectionRunner
from support.embedded import cheap_settings, image_bytes, post_photo, register

PROJECTIONS = {"profiles", "graph", "photos", "timelines", "search", "notifications",
               "controls", "follow_requests"}


@pytest.fixture
def built(tmp_path: Path) -> Settings:
    """A data dir with a few users, a follow, a photo (request `req-post-1`) and a like;
    the app is stopped afterwards."""
    settings = cheap_settings(tmp_path / "data")
    with TestClient(create_embedded_app(settings)) as client:
        ann, bob = register(client, "ann"), register(client, "bob")
        assert client.put(f"/v1/users/me/following/{ann.user_id}",
                          headers=bob.auth).status_code == 204
        photo = client.post("/v1/photos", headers={**ann.auth, "X-Request-ID": "req-post-1"},
                            data={"caption": "sun #beach", "tagged": "bob"},
                            files={"file": ("a.jpg", image_bytes(), "image/jpeg")})
        assert photo.status_code == 201, photo.text
        assert client.put(f"/v1/photos/{photo.json()['photo_id']}/likes/me",
                          headers=bob.auth).status_code == 204
        post_photo(client, bob, caption="second")
    return settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def append_directly(settings: Settings, count: int) -> None:
    """Append events with the command side alone: no runner sees them."""
    commands = open_event_store(settings)
    try:
        for _ in range(count):
            name = f"late_{uuid4().hex[:8]}"
            commands.execute(RegisterUser(username=name, email=f"{name}@example.com",
                                          password_hash="x", display_name=name),
                             CommandContext(actor_id=None, correlation_id="req-late"))
    finally:
        commands.close()


def test_export_jsonl_and_csv(built: Settings, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = str(built.data_dir)
    events = list(iter_events(built))
    code, out = run(capsys, "events", "export", "--data-dir", data_dir)
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == events

    target = tmp_path / "photos.csv"
    code, _ = run(capsys, "events", "export", "--data-dir", data_dir, "--format", "csv",
                  "--types", "PhotoPosted,PhotoLiked", "--output", str(target))
    assert code == 0
    assert list(read_export(target)) == [e for e in events
                                         if e["event_type"] in {"PhotoPosted", "PhotoLiked"}]

    second = events[1]["position"]
    code, out = run(capsys, "events", "export", "--data-dir", data_dir,
                    "--from-position", str(second), "--aggregate", events[1]["aggregate_id"])
    assert [json.loads(line) for line in out.splitlines()] == [events[1]]

    code, out = run(capsys, "events", "export", "--data-dir", data_dir,
                    "--since", events[-1]["occurred_at"])
    assert [json.loads(line) for line in out.splitlines()] == [events[-1]]

    assert main(["events", "export", "--data-dir", data_dir, "--types", "Nope"]) == 2
    assert main(["events", "export", "--data-dir", str(tmp_path / "empty")]) == 2
    assert not (tmp_path / "empty").exists()  # reading never creates a data dir


def test_tail_last_events_and_follow(built: Settings, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = str(built.data_dir)
    events = list(iter_events(built))
    code, out = run(capsys, "events", "tail", "--data-dir", data_dir, "-n", "2")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == events[-2:]
    code, out = run(capsys, "events", "tail", "--data-dir", data_dir, "-n", "5",
                    "--types", "PhotoPosted")
    assert [json.loads(line)["event_type"] for line in out.splitlines()] == ["PhotoPosted"] * 2

    polls: list[float] = []

    def fake_sleep(seconds: float) -> None:  # first poll: someone writes; second: Ctrl-C
        polls.append(seconds)
        if len(polls) == 1:
            append_directly(built, 1)
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", fake_sleep)
    code, out = run(capsys, "events", "tail", "--data-dir", data_dir, "-n", "1", "-f",
                    "--interval", "0.2")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0] == events[-1]
    assert [e["event_type"] for e in lines[1:]] == ["UserRegistered"]  # internal ones hidden
    assert lines[1]["correlation_id"] == "req-late"
    assert polls == [0.2, 0.2]


def test_trace_shows_the_requests_events_and_their_projections(
        built: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = str(built.data_dir)
    posted = next(e for e in iter_events(built) if e["correlation_id"] == "req-post-1")
    code, out = run(capsys, "events", "trace", "req-post-1", "--data-dir", data_dir)
    assert code == 0
    assert str(posted["position"]) in out and "PhotoPosted" in out
    assert posted["aggregate_id"] in out
    assert all(name in out for name in PROJECTIONS)

    code, out = run(capsys, "events", "trace", "req-post-1", "--data-dir", data_dir, "--json")
    [traced] = json.loads(out)
    assert traced["position"] == posted["position"]
    assert set(traced["applied_by"]) == PROJECTIONS and traced["pending"] == []

    # Events no runner has seen yet are pending for every projection.
    append_directly(built, 1)
    code, out = run(capsys, "events", "trace", "req-late", "--data-dir", data_dir, "--json")
    [late] = json.loads(out)
    assert late["applied_by"] == [] and set(late["pending"]) == PROJECTIONS

    assert main(["events", "trace", "no-such-request", "--data-dir", data_dir]) == 1


def test_status_shows_lag_while_the_runner_is_stopped(
        built: Settings, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = str(built.data_dir)
    code, out = run(capsys, "projections", "status", "--data-dir", data_dir, "--json")
    caught_up = json.loads(out)
    assert code == 0
    assert {row["name"] for row in caught_up["projections"]} == PROJECTIONS
    assert all(row["lag_events"] == 0 and row["lag_seconds"] == 0
               and row["position"] == caught_up["head"] for row in caught_up["projections"])

    time.sleep(0.05)  # so the late events happen measurably later
    append_directly(built, 2)
    code, out = run(capsys, "projections", "status", "--data-dir", data_dir, "--json")
    lagging = json.loads(out)
    assert lagging["head"] > caught_up["head"]
    for row in lagging["projections"]:
        assert row["position"] == caught_up["head"]
        assert row["lag_events"] == lagging["head"] - caught_up["head"] > 0
        assert row["lag_seconds"] > 0

    code, out = run(capsys, "projections", "status", "--data-dir", data_dir)
    assert "lag" in out and all(name in out for name in PROJECTIONS)

    commands, views = open_event_store(built), open_views(built.views_path)
    try:
        ProjectionRunner(commands, views, bindings(built)).catch_up()
    finally:
        views.close()
        commands.close()
    code, out = run(capsys, "projections", "status", "--data-dir", data_dir, "--json")
    after = json.loads(out)
    assert all(row["lag_events"] == 0 and row["lag_seconds"] == 0
               and row["position"] == lagging["head"] for row in after["projections"])

    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    code, out = run(capsys, "projections", "status", "--data-dir", data_dir, "--json",
                    "--watch", "1", "--iterations", "2")
    first, second = (json.loads(line) for line in out.splitlines())
    assert all(row["events_per_second"] is None for row in first["projections"])
    assert all(row["events_per_second"] == 0 for row in second["projections"])


@pytest.mark.parametrize("argv", [["events", "tail"], ["events", "export"],
                                  ["events", "trace", "req-1"],
                                  ["events", "report", "--out", "r.html"],
                                  ["projections", "status"], ["projections", "rebuild", "--all"]],
                         ids=lambda argv: " ".join(argv[:2]))
def test_a_data_dir_without_an_event_store_says_how_to_name_the_servers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        argv: list[str]) -> None:
    # As after `make run ARGS="--data-dir X"`: the command, run from the checkout, looks
    # in ./data, where there is nothing.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PHOTOSHARE_DATA_DIR", raising=False)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "no event store at data/events.sqlite3" in error
    assert str((tmp_path / "data").resolve()) in error
    assert "--data-dir" in error and "PHOTOSHARE_DATA_DIR" in error
    assert not (tmp_path / "data" / "events.sqlite3").exists()  # nothing made


def test_every_command_and_argument_explains_itself_in_help() -> None:
    import argparse

    from photoshare.infra.cli.main import build_parser

    def walk(parser: argparse.ArgumentParser, path: str):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{path} {name}")

    silent = []
    for path, parser in walk(build_parser(), "photoshare"):
        if not parser.description:
            silent.append(path)
        silent += [f"{path} {action.option_strings or action.dest}" for action in parser._actions
                   if not action.help and not isinstance(action, argparse._SubParsersAction)]
    assert silent == []
