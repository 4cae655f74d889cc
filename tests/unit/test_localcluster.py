"""Pure parts of infra/localcluster: what is decided before any server runs."""

from __future__ import annotations

import base64
import os

import pytest

from photoshare.infra.localcluster.kafka import new_cluster_id
from photoshare.infra.localcluster.postgres import postgres_spec
from photoshare.infra.localcluster.process import ServerSpec, ServerStartError, start


def test_kafka_cluster_ids_are_16_bytes_and_never_look_like_an_option() -> None:
    # One id in 64 would start with "-" if drawn naively: StorageTool then fails.
    ids = [new_cluster_id() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_server_that_exits_at_once_is_reported_with_its_log(tmp_path) -> None:
    spec = ServerSpec(name="broken", argv=["sh", "-c", "echo 'bad config line 3'; exit 3"],
                      address="-", ready=lambda: False, start_timeout=10)
    try:
        start(spec, tmp_path / "broken.log")
    except ServerStartError as error:
        assert "exited with 3" in str(error) and "bad config line 3" in str(error)
    else:
        raise AssertionError("a server that exited was reported as started")


def test_a_server_that_never_answers_is_reported(tmp_path) -> None:
    spec = ServerSpec(name="silent", argv=["sleep", "60"], address="-", ready=lambda: False,
                      start_timeout=0.5, stop_timeout=2)
    try:
        start(spec, tmp_path / "silent.log")
    except ServerStartError as error:
        assert "did not answer within" in str(error)
    else:
        raise AssertionError("a silent server was reported as started")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_postgres_sets_up_inside_a_private_data_dir(tmp_path) -> None:
    # `serve` makes data/ 0700; `make cluster` then keeps its servers in data/cluster/.
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    spec = postgres_spec(data / "cluster" / "postgres", port=1, durable=False)
    assert spec.name == "postgres"
    assert (data / "cluster" / "postgres" / "pgdata" / "PG_VERSION").exists()
    assert data.stat().st_mode & 0o777 == 0o701  # passable, never readable, by others
