"""Home-timeline benchmark (issue 3): seed a power-law social graph through the real event
store, let the real projection runner build the views, then load the real server.

Prints: events/s written while seeding, the runner's events/s building the views, home
timeline p50/p99 and requests/s with N concurrent clients against the same server's bare
`/healthz` as the limit, and post-to-timeline visibility (POST, then a timeline read with
X-Min-Position) p50/p99. Run: `.venv/bin/python bench/timeline.py` (see --help).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import io
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path
from uuid import UUID

import httpx
from PIL import Image

from photoshare.commands.aggregates import Credentials, EmailClaim, Follow, Photo, User
from photoshare.commands.messages import CommandContext, StoredImage
from photoshare.infra.roots.embedded import open_event_store
from photoshare.infra.auth.passwords import PasswordHasher
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import bindings, open_views
from photoshare.infra.auth.tokens import TokenService
from photoshare.streams.runner import ProjectionRunner

SECRET = "benchmark-secret-" + "x" * 32
PASSWORD = "benchmark password"
CONTEXT = CommandContext(actor_id=None, correlation_id="bench-seed")
IMAGE = StoredImage("0" * 64 + ".jpg", "jpeg", 1080, 1080,
                    {"large": "1" * 64 + ".jpg", "medium": "2" * 64 + ".jpg",
                     "square": "3" * 64 + ".jpg"})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def power_law_follows(users: int, follows: int, rng: random.Random) -> set[tuple[int, int]]:
    """Half the follows go to accounts drawn by Zipf (s = 1): a few get tens of thousands
    of followers; the other half are uniform, the long tail."""
    weights = list(accumulate(1 / (rank + 1) for rank in range(users)))
    total = weights[-1]
    edges: set[tuple[int, int]] = set()
    while len(edges) < follows:
        follower = rng.randrange(users)
        if rng.random() < 0.5:
            followee = bisect.bisect_left(weights, rng.random() * total)
        else:
            followee = rng.randrange(users)
        if follower != followee:
            edges.add((follower, followee))
    return edges


def seed(settings: Settings, users: int, follows: int, posts: int, seed_value: int,
         batch: int = 2000) -> tuple[list[str], int, float]:
    rng = random.Random(seed_value)
    app = open_event_store(settings)
    password_hash = PasswordHasher(time_cost=1, memory_kib=1024).hash(PASSWORD)
    started = time.perf_counter()

    def save(aggregates: list) -> None:
        for i in range(0, len(aggregates), batch):
            app.save(*aggregates[i:i + batch])

    ids: list[UUID] = []
    pending: list = []
    for n in range(users):
        user = User.register(username=f"user{n}", context=CONTEXT, profile={
            "display_name": f"User Number{n}", "bio": "", "location": "", "age": None})
        ids.append(user.id)
        pending += [user, EmailClaim.claim(email=f"user{n}@bench.example", user_id=user.id,
                                           context=CONTEXT),
                    Credentials.create(user_id=user.id, password_hash=password_hash,
                                       context=CONTEXT)]
        if len(pending) >= batch:
            save(pending)
            pending = []
    save(pending)
    print(f"  users: {users:,} registered", flush=True)
    edges = sorted(power_law_follows(users, follows, rng), key=lambda _: rng.random())
    for i in range(0, len(edges), batch):
        save([Follow.start(ids[a], ids[b], CONTEXT) for a, b in edges[i:i + batch]])
    print(f"  follows: {len(edges):,}", flush=True)
    photos = [Photo.post(owner_id=ids[rng.randrange(users)], image=IMAGE, caption="bench #photo",
                         location="", tagged_user_ids=[], context=CONTEXT) for _ in range(posts)]
    save(photos)
    events = app.head_position()
    elapsed = time.perf_counter() - started
    app.close()
    return [str(i) for i in ids], events, elapsed


def build_views(settings: Settings) -> tuple[int, float]:
    app = open_event_store(settings)
    views = open_views(settings.views_path)
    runner = ProjectionRunner(app, views, bindings(settings), batch_size=2000)
    started = time.perf_counter()
    head = app.head_position()
    last_report = started
    while runner.run_batch():
        if time.perf_counter() - last_report > 10:
            last_report = time.perf_counter()
            rate = runner.position / (last_report - started)
            print(f"  runner at {runner.position:,}/{head:,} ({rate:,.0f} events/s)", flush=True)
    elapsed = time.perf_counter() - started
    views.close()
    app.close()
    return head, elapsed


def seed_unless_seeded(settings: Settings, users: int, follows: int, posts: int,
                       seed_value: int) -> None:
    """Seed the graph and build its views, unless `settings`' data dir holds them already
    (the benches reuse a seeded dir: seeding the 100,000-user graph takes half an hour)."""
    if settings.event_store_path.exists():
        return
    print(f"seeding {users:,} users, {follows:,} follows, {posts:,} posts")
    _, events, seconds = seed(settings, users, follows, posts, seed_value)
    print(f"  wrote {events:,} events in {seconds:.1f} s ({events / seconds:,.0f} events/s)")
    events, seconds = build_views(settings)
    print(f"  runner applied {events:,} events in {seconds:.1f} s "
          f"({events / seconds:,.0f} events/s)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, port: int, threshold: int,
                 pythonpath: str | None = None) -> subprocess.Popen:
    """`photoshare serve` on `data_dir`; with `pythonpath`, the photoshare found there."""
    env = {**os.environ, "PHOTOSHARE_SECRET_KEY": SECRET, "PHOTOSHARE_LOG_LEVEL": "WARNING",
           "PHOTOSHARE_CELEBRITY_THRESHOLD": str(threshold)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    process = subprocess.Popen([str(Path(sys.executable).parent / "photoshare"), "serve",
                                "--port", str(port), "--data-dir", str(data_dir)], env=env)
    # The runner catches up before serving.
    return wait_answering(process, f"http://127.0.0.1:{port}/healthz", 600, "server")


def wait_answering(process: subprocess.Popen, url: str, seconds: float,
                   name: str) -> subprocess.Popen:
    """`process` once `url` answers 200; killed, and an error, if not within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} did not start")


def wrk_load(base: str, path: str, tokens: list[str], clients: int,
             seconds: float) -> tuple[dict[str, float], float, int]:
    """Load with wrk (C, so the load generator is not the bottleneck): each request sends
    a random one of `tokens`. Returns latency percentiles (s), requests/s and requests."""
    script = Path(tempfile.mkdtemp(prefix="photoshare-wrk-")) / "load.lua"
    quoted = ", ".join(f'"{t}"' for t in tokens)
    script.write_text(
        f"local tokens = {{ {quoted} }}\n"
        "request = function()\n"
        "  local headers = {}\n"
        "  if #tokens > 0 then headers['Authorization'] = 'Bearer ' .. tokens[math.random(#tokens)] end\n"
        f"  return wrk.format('GET', '{path}', headers)\n"
        "end\n")
    output = subprocess.run(
        ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "-s", str(script),
         base], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"{path}: some answers were not 2xx:\n{output}")
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
    percentiles: dict[str, float] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "75%", "90%", "99%"):
            number = parts[1].rstrip("umsn")
            unit = parts[1][len(number):]
            percentiles[parts[0]] = float(number) * units[unit]
    rate = float(next(line.split()[1] for line in output.splitlines()
                      if line.startswith("Requests/sec")))
    total = int(next(line.split()[0] for line in output.splitlines() if "requests in" in line))
    return percentiles, rate, total


async def load(base: str, paths: list[tuple[str, dict[str, str]]], clients: int,
               seconds: float) -> tuple[list[float], float]:
    """Fallback load generator in Python (slower than the server: it caps the figures)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < deadline:
                path, headers = paths[i % len(paths)]
                i += clients
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, len(latencies) / elapsed


def visibility(base: str, tokens: TokenService, poster: str, follower: str,
               samples: int) -> list[float]:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(buffer, "JPEG")
    poster_auth = {"Authorization": f"Bearer {tokens.issue(poster).token}"}
    follower_auth = {"Authorization": f"Bearer {tokens.issue(follower).token}"}
    seen: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(samples):
            started = time.perf_counter()
            posted = client.post("/v1/photos", headers=poster_auth,
                                 files={"file": ("p.jpg", buffer.getvalue(), "image/jpeg")})
            posted.raise_for_status()
            position = posted.headers["X-Event-Position"]
            page = client.get("/v1/timeline?limit=1",
                              headers={**follower_auth, "X-Min-Position": position}).json()
            elapsed = time.perf_counter() - started
            if not page["items"] or page["items"][0]["photo_id"] != posted.json()["photo_id"]:
                raise RuntimeError("the new post was not on the follower's timeline")
            seen.append(elapsed)
    return seen


def report(name: str, p50: float, p99: float, rate: float, total: int) -> None:
    print(f"  {name:<22} p50 {p50 * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms   "
          f"{rate:9.1f} req/s   ({total:,} requests)")


def measure(base: str, path: str, tokens: list[str], clients: int,
            seconds: float) -> tuple[float, float, float, int]:
    """p50, p99, requests/s and requests: with wrk if installed, else in Python."""
    if shutil.which("wrk"):
        percentiles, rate, total = wrk_load(base, path, tokens, clients, seconds)
        return percentiles["50%"], percentiles["99%"], rate, total
    headers = [{"Authorization": f"Bearer {t}"} for t in tokens] or [{}]
    latencies, rate = asyncio.run(load(base, [(path, h) for h in headers], clients, seconds))
    return percentile(latencies, 0.5), percentile(latencies, 0.99), rate, len(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--follows", type=int, default=2_000_000)
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--celebrity-threshold", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, help="seed here (default: a temp dir); "
                        "an already seeded dir is reused")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="photoshare-bench-"))
    settings = Settings(data_dir=data_dir, secret_key=SECRET,
                        celebrity_threshold=args.celebrity_threshold)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; data in {data_dir}")
    seed_unless_seeded(settings, args.users, args.follows, args.posts, args.seed)
    tokens = TokenService(SECRET, ttl_seconds=3600)
    app = open_event_store(settings)
    user_ids = [e.data["user_id"] for e in app.iter_log()
                if e.event_type == "UserRegistered"]
    app.close()
    port = free_port()
    server = start_server(data_dir, port, args.celebrity_threshold)
    base = f"http://127.0.0.1:{port}"
    try:
        rng = random.Random(args.seed)
        readers = rng.sample(user_ids, min(2000, len(user_ids)))
        tokens_for_readers = [tokens.issue(u).token for u in readers]
        measure(base, "/v1/timeline", tokens_for_readers, args.clients, 3)  # warm-up
        tool = "wrk" if shutil.which("wrk") else "Python (install wrk for true figures)"
        print(f"load: {args.clients} concurrent clients, {args.seconds:.0f} s each, by {tool}")
        *bare, bare_rate, bare_total = measure(base, "/healthz", [], args.clients, args.seconds)
        report("bare /healthz (limit)", *bare, bare_rate, bare_total)
        *home, home_rate, home_total = measure(base, "/v1/timeline", tokens_for_readers,
                                               args.clients, args.seconds)
        report("GET /v1/timeline", *home, home_rate, home_total)
        print(f"  timeline / limit: {home_rate / bare_rate:.2f}x the requests/s")
        with httpx.Client(base_url=base) as client:
            follower = next(u for u in readers if client.get(
                f"/v1/users/{u}/following?limit=1").json()["items"])
            followee = client.get(f"/v1/users/{follower}/following?limit=1").json()["items"][0]
        seen = visibility(base, tokens, followee["user_id"], follower, 50)
        print(f"  post-to-timeline visibility: p50 {percentile(seen, 0.5) * 1000:.1f} ms, "
              f"p99 {percentile(seen, 0.99) * 1000:.1f} ms (POST + read with X-Min-Position)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
