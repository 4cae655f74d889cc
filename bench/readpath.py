"""Read-path benchmark (issue 14): photoshare's hot reads next to a bare Starlette hello app
served by the same runner with the same settings (`bench/bare_app.py`), at 1 and 32
connections, with wrk on the same machine.

Seeds a power-law graph through the real event store and projection runner (the seeding
of `bench/timeline.py`), starts `photoshare serve` and the bare app side by side, then,
round after round, loads the bare app and each endpoint in turn: a ratio is an
endpoint's requests/s over the bare app's in the same round at the same connections
(the machine is shared and noisy, so only same-run ratios count). Prints each round and
the medians over rounds. Endpoints: GET /v1/timeline, GET /v1/photos/{id} (a photo page,
signed in), GET /v1/users/{id} (a profile, anonymous and signed in), GET
/v1/search/users?q=..., GET /v1/notifications, GET /healthz.

`--profile cluster` measures the cluster read API (`photoshare readapi`) on its own
stores instead: it starts PostgreSQL, Kafka, Cassandra, Redis and OpenSearch on free
ports as the tests do (tests/support/engines.py; `make engines` first), seeds a smaller
power-law graph through the PostgreSQL event store (`--users`, `--follows`, `--posts`:
the cluster worker applies a few hundred events/s on this machine), publishes it with
the relay, lets one worker apply it to Cassandra, Redis and OpenSearch, then serves the
read API next to the bare app as above.

Run: `.venv/bin/python bench/readpath.py --data-dir /tmp/readpath-20k` (see --help);
needs `wrk` (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timeline as seeding  # noqa: E402 - bench/timeline.py: seed(), build_views(), ...

from photoshare.infra.auth.tokens import TokenService  # noqa: E402
from photoshare.infra.roots.embedded import open_event_store  # noqa: E402
from photoshare.infra.settings import Settings  # noqa: E402

BARE = "bare Starlette hello"


def wrk(base: str, paths: list[str], tokens: list[str], connections: int,
        seconds: float) -> dict[str, float]:
    """requests/s, p50 and p99 (ms) of GETs to random `paths`, each with a random one of
    `tokens` as its bearer token (none when `tokens` is empty)."""
    script = Path(tempfile.mkdtemp(prefix="photoshare-wrk-")) / "load.lua"
    script.write_text(
        f"local paths = {{ {', '.join(json.dumps(p) for p in paths)} }}\n"
        f"local tokens = {{ {', '.join(json.dumps(t) for t in tokens)} }}\n"
        "request = function()\n"
        "  local headers = {}\n"
        "  if #tokens > 0 then\n"
        "    headers['Authorization'] = 'Bearer ' .. tokens[math.random(#tokens)]\n"
        "  end\n"
        "  return wrk.format('GET', paths[math.random(#paths)], headers)\n"
        "end\n")
    output = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(seconds)}s",
         "--latency", "-s", str(script), base], capture_output=True, text=True,
        check=True).stdout
    shutil.rmtree(script.parent, ignore_errors=True)
    if "Non-2xx" in output:
        raise RuntimeError(f"{paths[0]}: some answers were not 2xx:\n{output}")
    units = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    figures: dict[str, float] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            number = parts[1].rstrip("umsn")
            figures["p" + parts[0][:-1]] = float(number) * units[parts[1][len(number):]]
        elif line.startswith("Requests/sec"):
            figures["rps"] = float(parts[1])
    return figures


def start_bare(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(Path(__file__).parent / "bare_app.py"),
                                "--port", str(port)])
    return seeding.wait_answering(process, f"http://127.0.0.1:{port}/", 60, "the bare app")


def seeded_ids(settings: Settings) -> tuple[list[str], list[str]]:
    """The user ids and photo ids of the seeded log, in log order."""
    store = open_event_store(settings)
    user_ids, photo_ids = [], []
    for envelope in store.iter_log():
        if envelope.event_type == "UserRegistered":
            user_ids.append(envelope.data["user_id"])
        elif envelope.event_type == "PhotoPosted":
            photo_ids.append(envelope.data["photo_id"])
    store.close()
    return user_ids, photo_ids


def workload(user_ids: list[str], photo_ids: list[str], secret: str, base: str,
             rng: random.Random) -> dict[str, tuple[list[str], list[str]]]:
    """Each endpoint's paths and tokens, drawn from the seeded users (`user{n}`, n in
    log order) and photos."""
    issuer = TokenService(secret, ttl_seconds=3600)
    readers = rng.sample(user_ids, min(2000, len(user_ids)))
    tokens = [issuer.issue(u).token for u in readers]
    names = [f"user{n}" for n in rng.sample(range(len(user_ids)), min(500, len(user_ids)))]
    searches = [f"/v1/search/users?q={name[:len(name) - 1]}&limit=10" for name in names]
    work = {
        "GET /v1/timeline": (["/v1/timeline"], tokens),
        "GET /v1/photos/{id}": ([f"/v1/photos/{p}" for p in rng.sample(
            photo_ids, min(2000, len(photo_ids)))], tokens),
        "GET /v1/users/{id}": ([f"/v1/users/{u}" for u in readers], []),
        # With the viewer's relationship to them, and their blocks and mutes.
        "GET /v1/users/{id} signed in": ([f"/v1/users/{u}" for u in readers], tokens),
        "GET /v1/search/users": (searches, []),
        "GET /v1/notifications": (["/v1/notifications"], tokens),
        "GET /healthz": (["/healthz"], []),
    }
    with httpx.Client(base_url=base, timeout=10) as client:  # every path answers 200
        for name, (paths, keys) in work.items():
            headers = {"Authorization": f"Bearer {keys[0]}"} if keys else {}
            answer = client.get(paths[0], headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:200]}")
    return work


Work = dict[str, tuple[str, list[str], list[str]]]  # name -> (base URL, paths, tokens)


def targets(work: dict[str, tuple[list[str], list[str]]], base: str,
            before: str | None) -> Work:
    """Each endpoint on `base`; with `before` (the same app from the code before a
    change, on the same data), each endpoint there too, named "... (before)"."""
    found: Work = {name: (base, paths, tokens) for name, (paths, tokens) in work.items()}
    if before:
        found.update({f"{name} (before)": (before, paths, tokens)
                      for name, (paths, tokens) in work.items()})
    return found


def measure(work: Work, bare_base: str, args: argparse.Namespace) -> list[dict[str, object]]:
    """Rounds of wrk runs: the bare app, each endpoint, the bare app again."""
    results: list[dict[str, object]] = []
    for name, (base, paths, tokens) in work.items():  # warm-up: caches, pages, JIT of wrk
        wrk(base, paths, tokens, 32, 2)
    wrk(bare_base, ["/"], [], 32, 2)
    for round_no in range(1, args.rounds + 1):
        for conns in connections_of(args):
            # The bare app before and after the endpoints: their mean is the round's
            # reference, so a drift in the machine's load during the round evens out.
            before = wrk(bare_base, ["/"], [], conns, args.seconds)
            measured = {name: wrk(base, paths, tokens, conns, args.seconds)
                        for name, (base, paths, tokens) in work.items()}
            after = wrk(bare_base, ["/"], [], conns, args.seconds)
            reference = (before["rps"] + after["rps"]) / 2
            results.append({"round": round_no, "connections": conns, "endpoint": BARE,
                            "rps": reference, "p50": before["p50"],
                            "p99": max(before["p99"], after["p99"]), "ratio": 1.0})
            print(f"round {round_no}, {conns} connection(s): {BARE} "
                  f"{reference:,.0f} req/s")
            for name, figures in measured.items():
                ratio = figures["rps"] / reference
                results.append({"round": round_no, "connections": conns,
                                "endpoint": name, **figures, "ratio": ratio})
                print(f"  {name:<31} {figures['rps']:8,.0f} req/s  {ratio:5.3f}x  "
                      f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms",
                      flush=True)
    return results


def before_path(checkout: Path) -> str:
    """A PYTHONPATH under which `import photoshare` finds the code in `checkout` (ahead
    of the installed, editable package)."""
    root = Path(tempfile.mkdtemp(prefix="photoshare-before-"))
    (root / "photoshare").symlink_to(checkout.resolve())
    return str(root)


def chosen(work: dict[str, tuple[list[str], list[str]]], args: argparse.Namespace
           ) -> dict[str, tuple[list[str], list[str]]]:
    if not args.only:
        return work
    wanted = args.only.split(",")
    return {k: v for k, v in work.items() if any(w in k for w in wanted)}


def connections_of(args: argparse.Namespace) -> list[int]:
    return [int(c) for c in args.connections.split(",")]


def report(results: list[dict[str, object]], work: dict[str, object],
           args: argparse.Namespace) -> None:
    print("\nmedians over rounds (ratio = requests/s over the bare app's in the same round)")
    print("| endpoint | connections | req/s | ratio to bare | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for conns in connections_of(args):
        for name in [BARE, *work]:
            rows = [r for r in results if r["endpoint"] == name and r["connections"] == conns]
            med = {k: statistics.median(float(r[k]) for r in rows)  # type: ignore[arg-type]
                   for k in ("rps", "ratio", "p50", "p99")}
            print(f"| {name} | {conns} | {med['rps']:,.0f} | {med['ratio']:.3f}x | "
                  f"{med['p50']:.2f} | {med['p99']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("embedded", "cluster"), default="embedded",
                        help="which read API: the embedded app on SQLite (default) or the "
                             "cluster's `photoshare readapi` on its own stores")
    parser.add_argument("--users", type=int, help="default 20,000 (cluster: 2,000)")
    parser.add_argument("--follows", type=int, help="default 400,000 (cluster: 20,000)")
    parser.add_argument("--posts", type=int, help="default 10,000 (cluster: 1,000)")
    parser.add_argument("--seconds", type=float, default=6, help="per load run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="1,32")
    parser.add_argument("--only", help="endpoints whose name contains this, comma-separated")
    parser.add_argument("--celebrity-threshold", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, help="seed here (default: a temp dir); "
                        "an already seeded dir is reused")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also serve the same data with the code in DIR (a checkout "
                             "laid out as the `photoshare` package, e.g. `git archive` of "
                             "the commit before a change) and measure it in the same rounds")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    small = args.profile == "cluster"
    args.users = args.users or (2_000 if small else 20_000)
    args.follows = args.follows or (20_000 if small else 400_000)
    args.posts = args.posts or (1_000 if small else 10_000)
    if small:
        from readpath_cluster import run_cluster  # bench/readpath_cluster.py
        run_cluster(args)
        return
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="photoshare-readpath-"))
    settings = Settings(data_dir=data_dir, secret_key=seeding.SECRET,
                        celebrity_threshold=args.celebrity_threshold)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; data in {data_dir}")
    seeding.seed_unless_seeded(settings, args.users, args.follows, args.posts, args.seed)
    app_port, bare_port = seeding.free_port(), seeding.free_port()
    server = seeding.start_server(data_dir, app_port, args.celebrity_threshold)
    processes = [server, start_bare(bare_port)]
    base, bare_base = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}"
    before = None
    results: list[dict[str, object]] = []
    try:
        if args.before:
            before_port = seeding.free_port()
            processes.append(seeding.start_server(data_dir, before_port,
                                                  args.celebrity_threshold,
                                                  pythonpath=before_path(args.before)))
            before = f"http://127.0.0.1:{before_port}"
        work = targets(chosen(workload(*seeded_ids(settings), seeding.SECRET, base,
                                       random.Random(args.seed)), args), base, before)
        results = measure(work, bare_base, args)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    report(results, work, args)

if __name__ == "__main__":
    main()
