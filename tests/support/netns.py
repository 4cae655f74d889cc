"""A separate host for a test: a Linux network namespace joined to this one by a veth
pair with addresses of its own (10.213.X.Y/30), as root. Processes started through
`NetworkNamespace.command` have their own network stack: their 127.0.0.1 is not the
host's. The session's servers (which listen on the host's 127.0.0.1) are reached through
port mirrors (tests/support/tcp_mirror.py) at the same 127.0.0.1:PORT addresses they
advertise, every byte crossing the veth pair."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from photoshare.infra.localcluster.process import dies_with_this_process

MIRROR = Path(__file__).with_name("tcp_mirror.py")


@dataclass(frozen=True)
class NetworkNamespace:
    name: str
    host_address: str  # the host's end of the veth pair
    address: str  # the namespace's end: where its servers can be reached from the host

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextmanager
def network_namespace(server_ports: list[int]) -> Iterator[NetworkNamespace]:
    """A namespace whose 127.0.0.1:PORT reaches the host's for each of `server_ports`."""
    if os.geteuid() != 0:
        raise RuntimeError("network namespaces need root (CI runs as root)")
    tag = uuid.uuid4().hex[:6]
    name, host_if, ns_if = f"photoshare-{tag}", f"psv{tag}h", f"psv{tag}n"
    third, fourth = random.randrange(1, 255), random.randrange(0, 256, 4)
    host_address, address = f"10.213.{third}.{fourth + 1}", f"10.213.{third}.{fourth + 2}"
    with ExitStack() as cleanup:
        _ip("netns", "add", name)
        cleanup.callback(_ip, "netns", "del", name)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        cleanup.callback(subprocess.run, ["ip", "link", "del", host_if], capture_output=True)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{host_address}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        inside = ["netns", "exec", name, "ip"]
        _ip(*inside, "addr", "add", f"{address}/30", "dev", ns_if)
        _ip(*inside, "link", "set", ns_if, "up")
        _ip(*inside, "link", "set", "lo", "up")
        namespace = NetworkNamespace(name, host_address, address)
        # host end of the pair -> the servers; inside, 127.0.0.1 -> the host end.
        host_mirror = subprocess.Popen(
            [sys.executable, "-u", str(MIRROR), host_address, "127.0.0.1",
             *[str(p) for p in server_ports]],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=dies_with_this_process())
        cleanup.callback(_stop, host_mirror)
        _wait_listening(host_mirror)
        ns_mirror = subprocess.Popen(
            namespace.command([sys.executable, "-u", str(MIRROR), "127.0.0.1", host_address,
                               *[str(p) for p in server_ports]]),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=dies_with_this_process())
        cleanup.callback(_stop, ns_mirror)
        _wait_listening(ns_mirror)
        yield namespace


def _wait_listening(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "listening", f"port mirror did not start: {line}"


def _stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(10)
