"""Read-path benchmark (issue 14): photoshare's hot reads next to a bare Starlette hello app
served by the same runner with the same settings (`bench/bare_app.py`), at 1 and 32
connections, with wrk on the same machine.

Seeds a power-law graph through the real event store and projection runner (the seeding
of `bench/timeline.py`), starts `photoshare serve` and the bare app side by side, then,
round after round, loads the bare app and each endpoint in turn: a ratio is an
endpoint's requests/s over the bare app's in the same round at the same connections
(the machine is shared and noisy, so only same-run ratios count). Prints each round and
the medians over rounds. Endpoints: GET /v1/timeline, GET /v1/photos/{id} (a photo page,
signed in), GET /v1/users/{id} (a profile), GET /v1/search/users?q=..., GET /healthz.

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


def workload(settings: Settings, base: str, rng: random.Random
             ) -> dict[str, tuple[list[str], list[str]]]:
    """Each endpoint's paths and tokens, drawn from the seeded log."""
    store = open_event_store(settings)
    user_ids, photo_ids = [], []
    for envelope in store.iter_log():
        if envelope.event_type == "UserRegistered":
            user_ids.append(envelope.data["user_id"])
        elif envelope.event_type == "PhotoPosted":
            photo_ids.append(envelope.data["photo_id"])
    store.close()
    issuer = TokenService(seeding.SECRET, ttl_seconds=3600)
    readers = rng.sample(user_ids, min(2000, len(user_ids)))
    tokens = [issuer.issue(u).token for u in readers]
    names = [f"user{n}" for n in rng.sample(range(len(user_ids)), min(500, len(user_ids)))]
    searches = [f"/v1/search/users?q={name[:len(name) - 1]}&limit=10" for name in names]
    work = {
        "GET /v1/timeline": (["/v1/timeline"], tokens),
        "GET /v1/photos/{id}": ([f"/v1/photos/{p}" for p in rng.sample(
            photo_ids, min(2000, len(photo_ids)))], tokens),
        "GET /v1/users/{id}": ([f"/v1/users/{u}" for u in readers], []),
        "GET /v1/search/users": (searches, []),
        "GET /healthz": (["/healthz"], []),
    }
    with httpx.Client(base_url=base, timeout=10) as client:  # every path answers 200
        for name, (paths, keys) in work.items():
            headers = {"Authorization": f"Bearer {keys[0]}"} if keys else {}
            answer = client.get(paths[0], headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:200]}")
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--follows", type=int, default=400_000)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=6, help="per load run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="1,32")
    parser.add_argument("--only", help="endpoints whose name contains this, comma-separated")
    parser.add_argument("--celebrity-threshold", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, help="seed here (default: a temp dir); "
                        "an already seeded dir is reused")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="photoshare-readpath-"))
    settings = Settings(data_dir=data_dir, secret_key=seeding.SECRET,
                        celebrity_threshold=args.celebrity_threshold)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; data in {data_dir}")
    if not settings.event_store_path.exists():
        print(f"seeding {args.users:,} users, {args.follows:,} follows, {args.posts:,} posts")
        _, events, seconds = seeding.seed(settings, args.users, args.follows, args.posts,
                                          args.seed)
        print(f"  wrote {events:,} events in {seconds:.1f} s")
        events, seconds = seeding.build_views(settings)
        print(f"  runner applied {events:,} events in {seconds:.1f} s")
    app_port, bare_port = seeding.free_port(), seeding.free_port()
    server = seeding.start_server(data_dir, app_port, args.celebrity_threshold)
    bare = start_bare(bare_port)
    base, bare_base = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}"
    results: list[dict[str, object]] = []
    try:
        work = workload(settings, base, random.Random(args.seed))
        if args.only:
            wanted = args.only.split(",")
            work = {k: v for k, v in work.items() if any(w in k for w in wanted)}
        for name, (paths, tokens) in work.items():  # warm-up: caches, pages, JIT of wrk
            wrk(base, paths, tokens, 32, 2)
        wrk(bare_base, ["/"], [], 32, 2)
        connections = [int(c) for c in args.connections.split(",")]
        for round_no in range(1, args.rounds + 1):
            for conns in connections:
                # The bare app before and after the endpoints: their mean is the round's
                # reference, so a drift in the machine's load during the round evens out.
                before = wrk(bare_base, ["/"], [], conns, args.seconds)
                measured = {name: wrk(base, paths, tokens, conns, args.seconds)
                            for name, (paths, tokens) in work.items()}
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
                    print(f"  {name:<22} {figures['rps']:8,.0f} req/s  {ratio:5.3f}x  "
                          f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms",
                          flush=True)
    finally:
        for process in (server, bare):
            process.terminate()
            process.wait(timeout=30)
    print("\nmedians over rounds (ratio = requests/s over the bare app's in the same round)")
    print(f"| endpoint | connections | req/s | ratio to bare | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for conns in connections:
        for name in [BARE, *work]:
            rows = [r for r in results if r["endpoint"] == name and r["connections"] == conns]
            med = {k: statistics.median(float(r[k]) for r in rows)  # type: ignore[arg-type]
                   for k in ("rps", "ratio", "p50", "p99")}
            print(f"| {name} | {conns} | {med['rps']:,.0f} | {med['ratio']:.3f}x | "
                  f"{med['p50']:.2f} | {med['p99']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
