"""Request ids made by the request pass (`new_request_id`): each a version-4 UUID as
`uuid.uuid4()` writes it, none repeated, and a forked child draws its own."""

from __future__ import annotations

import os
import uuid

from photoshare.infra.http.web import new_request_id


def test_an_id_is_a_version_4_uuid_written_as_uuid4_writes_it() -> None:
    for _ in range(1000):
        request_id = new_request_id()
        parsed = uuid.UUID(request_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == request_id


def test_ids_do_not_repeat() -> None:
    ids = {new_request_id() for _ in range(100_000)}
    assert len(ids) == 100_000


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then exit without running pytest's teardown
        os.close(read_end)
        os.write(write_end, " ".join(new_request_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write_end)
    parents = {new_request_id() for _ in range(10)}
    with os.fdopen(read_end, "rb") as pipe:
        childs = set(pipe.read().decode().split())
    os.waitpid(pid, 0)
    assert len(childs) == 10 and not childs & parents
