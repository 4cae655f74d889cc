"""The cluster profile across hosts: a worker and a read API each in a network namespace
of its own (its own network stack and address, joined to this host by a veth pair), the
write API and the relay on this host, every view on Cassandra, Redis and OpenSearch and
photos in S3. A follow and a post written on this host reach the follower's home
timeline, photo search and notifications through the namespaced worker, and are read
back through the namespaced read API at its own address. No role's data dir gains a
file: nothing is shared but the servers."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest

from photoshare.infra.localcluster.process import free_port
from photoshare.infra.roots.supervisor import prepare
from support.cluster import cluster_servers
from support.embedded import image_bytes, register
from support.engines import Engines
from support.netns import network_namespace
from support.serve import wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def _server_ports(env: dict[str, str]) -> list[int]:
    """Every port of the session's servers that the settings name."""
    return sorted({int(port) for key, value in env.items() if key.startswith("PHOTOSHARE_")
                   for port in re.findall(r"127\.0\.0\.1:(\d+)", value)})


def _network_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def test_a_worker_and_a_read_api_on_hosts_of_their_own(tmp_path: Path,
                                                        engines: Engines) -> None:
    with cluster_servers(engines, tmp_path, view_engines=True, s3=True) as servers:
        prepare(servers.settings())  # keyspace, indices and topics, as `up` makes them
        ports = _server_ports(servers.env)
        assert len(ports) >= 6, ports  # postgres, redis, kafka, cassandra, opensearch, s3
        dirs = {name: tmp_path / f"data-{name}" for name in ("writeapi", "relay", "worker",
                                                              "readapi")}
        with network_namespace(ports) as worker_host, network_namespace(ports) as read_host:
            write_port, read_port = free_port(), free_port()
            writeapi = servers.role("writeapi", "--port", str(write_port),
                                    log_name="writeapi.log",
                                    PHOTOSHARE_DATA_DIR=str(dirs["writeapi"]))
            relay = servers.role("relay", log_name="relay.log",
                                 PHOTOSHARE_DATA_DIR=str(dirs["relay"]))
            worker = servers.role("worker", log_name="worker.log",
                                  inside=worker_host.command([]),
                                  PHOTOSHARE_DATA_DIR=str(dirs["worker"]))
            readapi = servers.role("readapi", "--host", read_host.address,
                                   "--port", str(read_port), log_name="readapi.log",
                                   inside=read_host.command([]),
                                   PHOTOSHARE_DATA_DIR=str(dirs["readapi"]))
            roles = (writeapi, relay, worker, readapi)
            try:
                write_base = f"http://127.0.0.1:{write_port}"
                read_base = f"http://{read_host.address}:{read_port}"
                wait_healthy(write_base, writeapi, servers.log_dir / "writeapi.log")
                wait_healthy(read_base, readapi, servers.log_dir / "readapi.log")
                ours = _network_of(os.getpid())
                assert _network_of(worker.pid) not in (ours, _network_of(readapi.pid))
                assert _network_of(readapi.pid) != ours
                # The read API answers at its own address only, not on this host's loopback.
                with pytest.raises(httpx.ConnectError):
                    httpx.get(f"http://127.0.0.1:{read_port}/healthz", timeout=2)

                with httpx.Client(base_url=write_base, timeout=30) as write, \
                        httpx.Client(base_url=read_base, timeout=30) as read:
                    ann = register(write)  # type: ignore[arg-type]
                    bob = register(write)  # type: ignore[arg-type]
                    followed = write.put(f"/v1/users/me/following/{ann.user_id}",
                                         headers=bob.auth)
                    assert followed.status_code == 204, followed.text
                    answer = write.post("/v1/photos", headers=ann.auth,
                                        data={"caption": "From another host #netns"},
                                        files={"file": ("p.jpg", image_bytes(), "image/jpeg")})
                    assert answer.status_code == 201, answer.text
                    posted, position = answer.json(), answer.headers["X-Event-Position"]

                    def caught_up(path: str, account_auth: dict[str, str]) -> dict:
                        deadline = time.monotonic() + 60
                        while True:
                            answer = read.get(path, headers={**account_auth,
                                                             "X-Min-Position": position})
                            assert answer.status_code == 200, answer.text
                            body = answer.json()
                            if body.get("items") and "X-Read-Stale" not in answer.headers:
                                return body
                            assert time.monotonic() < deadline, (path, answer.headers, body)
                            time.sleep(0.2)

                    timeline = caught_up("/v1/timeline", bob.auth)
                    assert [p["photo_id"] for p in timeline["items"]] == [posted["photo_id"]]
                    found = caught_up("/v1/search/photos?q=%23netns", bob.auth)
                    assert [p["photo_id"] for p in found["items"]] == [posted["photo_id"]]
                    notices = caught_up("/v1/notifications", ann.auth)
                    assert [(n["type"], n["actor"]["user_id"]) for n in notices["items"]] == \
                        [("follow", bob.user_id)]
                    assert read.get("/readyz").status_code == 200
                for name, directory in dirs.items():
                    assert not directory.exists() or not any(directory.iterdir()), \
                        (name, sorted(p.name for p in directory.iterdir()))
            finally:
                for process in roles:
                    process.terminate()
                for process in roles:
                    try:
                        process.wait(10)
                    except Exception:
                        process.kill()
                        process.wait(10)
