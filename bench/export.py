"""Data export benchmark (issue 15, item 5): the memory of the serving process while it
streams a large account's export, against the size of the zip.

Starts the real `photoshare serve` (embedded profile) on a fresh data dir, makes one
large account through the HTTP API (N photos of a few hundred KB each, comments on them
and on others' photos, likes, follows) and one small account, then downloads each
export over HTTP. For each it prints the zip's size, the time, and the serving process's
resident memory before the export and at its peak during it (VmHWM, reset just before
the export through /proc/PID/clear_refs, and VmRSS sampled every 5 ms as a cross-check).
Run: `.venv/bin/python bench/export.py` (see --help).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timeline import free_port, wait_answering  # noqa: E402  (bench/ is not a package)

SECRET = "benchmark-secret-" + "x" * 32
PASSWORD = "benchmark password"
MIB = 1024 * 1024


def original(seed: int, size: tuple[int, int]) -> bytes:
    """A JPEG of random pixels: a few hundred KB that do not compress, like a camera's."""
    chance = random.Random(seed)
    image = Image.frombytes("RGB", size, chance.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith(field + ":")).split()[1])


class Account:
    def __init__(self, api: httpx.Client, username: str) -> None:
        self.api = api
        api.post("/v1/users", json={"username": username, "password": PASSWORD,
                                    "email": f"{username}@bench.example",
                                    "display_name": username.title()}).raise_for_status()
        session = api.post("/v1/sessions", json={"login": username, "password": PASSWORD})
        session.raise_for_status()
        self.user_id = session.json()["user_id"]
        self.auth = {"Authorization": f"Bearer {session.json()['access_token']}"}
        self.position = 0

    def write(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = self.api.request(method, path, headers=self.auth, **kwargs)
        response.raise_for_status()
        self.position = max(self.position, int(response.headers.get("X-Event-Position", 0)))
        return response


def seed(api: httpx.Client, name: str, photos: int, comments: int, people: int,
         size: tuple[int, int]) -> tuple[Account, int]:
    """An account with `photos` photos, `comments` comments, a like on each of its
    photos and on others', and `people` follows each way; returns it and its originals'
    total bytes."""
    owner = Account(api, name)
    others = [Account(api, f"{name}_friend{n}") for n in range(people)]
    for other in others:
        other.write("PUT", f"/v1/users/me/following/{owner.user_id}")
        owner.write("PUT", f"/v1/users/me/following/{other.user_id}")
    theirs = [others[0].write("POST", "/v1/photos", files={
        "file": ("p.jpg", original(-1, (64, 64)), "image/jpeg")}).json()["photo_id"]] \
        if others else []

    def upload(n: int) -> tuple[str, int]:
        data = original(n, size)
        response = owner.write("POST", "/v1/photos", data={"caption": f"photo {n} #bench"},
                               files={"file": (f"{n}.jpg", data, "image/jpeg")})
        return response.json()["photo_id"], len(data)

    with ThreadPoolExecutor(2) as pool:  # the server's image workers are two
        posted = list(pool.map(upload, range(photos)))
    total = sum(length for _, length in posted)
    ids = [photo_id for photo_id, _ in posted] + theirs
    chance = random.Random(5)
    for n in range(comments):
        text = " ".join(chance.choice(("sea", "light", "harbour", "dawn", "boat", "gull"))
                        for _ in range(30)) + f" n°{n}"
        owner.write("POST", f"/v1/photos/{ids[n % len(ids)]}/comments", json={"text": text})
    for photo_id in ids:
        owner.write("PUT", f"/v1/photos/{photo_id}/likes/me")
    owner.position = max([owner.position] + [other.position for other in others])
    return owner, total


def export(api: httpx.Client, account: Account, pid: int, keep: Path) -> dict[str, float]:
    """Downloads the export to `keep`, measuring the server's memory around it."""
    time.sleep(1)  # let the server settle after the seeding
    before = status_kib(pid, "VmRSS")
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        hwm_reset = True
    except OSError:
        hwm_reset = False
    sampled = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            sampled.append(status_kib(pid, "VmRSS"))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    size = 0
    with api.stream("GET", "/v1/users/me/export", headers={
            **account.auth, "X-Min-Position": str(account.position)}) as answer, \
            keep.open("wb") as out:
        answer.raise_for_status()
        for piece in answer.iter_raw():
            out.write(piece)
            size += len(piece)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    peak = status_kib(pid, "VmHWM") if hwm_reset else max(sampled)
    with zipfile.ZipFile(keep) as archive:
        assert archive.testzip() is None
        files = len(archive.namelist())
    return {"zip_mib": size / MIB, "seconds": seconds, "files": files,
            "rss_before_mib": before / 1024, "rss_peak_mib": peak / 1024,
            "rss_sampled_peak_mib": max(sampled) / 1024, "hwm": hwm_reset}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--comments", type=int, default=3000)
    parser.add_argument("--people", type=int, default=40, help="follows each way")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="photoshare-export-bench-"))
    port = free_port()
    env = {**os.environ, "PHOTOSHARE_SECRET_KEY": SECRET, "PHOTOSHARE_LOG_LEVEL": "WARNING",
           "PHOTOSHARE_PASSWORD_HASH_MEMORY_KIB": "1024", "PHOTOSHARE_PASSWORD_HASH_TIME_COST": "1",
           "PHOTOSHARE_USER_WRITES_PER_MINUTE": "1000000",
           "PHOTOSHARE_REGISTRATIONS_PER_HOUR_PER_ADDRESS": "1000000"}
    process = subprocess.Popen([str(Path(sys.executable).parent / "photoshare"), "serve",
                                "--port", str(port), "--data-dir", str(data_dir)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_answering(process, f"{base}/healthz", 120, "server")
        with httpx.Client(base_url=base, timeout=600) as api:
            started = time.perf_counter()
            small, small_bytes = seed(api, "small", 1, 10, 2, (args.width, args.height))
            big, big_bytes = seed(api, "big", args.photos, args.comments, args.people,
                                  (args.width, args.height))
            print(f"seeded in {time.perf_counter() - started:.0f} s: {args.photos} photos "
                  f"({big_bytes / MIB:.1f} MiB of originals, {big_bytes / args.photos / 1024:.0f}"
                  f" KiB each), {args.comments} comments, {args.photos + 1} likes, "
                  f"{args.people} follows each way")
            rows = [("small (1 photo)", export(api, small, process.pid, data_dir / "small.zip"),
                     small_bytes),
                    (f"big ({args.photos} photos)",
                     export(api, big, process.pid, data_dir / "big.zip"), big_bytes)]
        print(f"\n| account | originals | zip | entries | time | server RSS before | "
              f"peak RSS during the export | growth |")
        print("|---|---|---|---|---|---|---|---|")
        for name, row, originals in rows:
            print(f"| {name} | {originals / MIB:.1f} MiB | {row['zip_mib']:.1f} MiB | "
                  f"{row['files']} | {row['seconds']:.2f} s ({row['zip_mib'] / row['seconds']:.0f}"
                  f" MiB/s) | {row['rss_before_mib']:.1f} MiB | {row['rss_peak_mib']:.1f} MiB"
                  f"{'' if row['hwm'] else ' (sampled)'} | "
                  f"{row['rss_peak_mib'] - row['rss_before_mib']:+.1f} MiB |")
        print(f"\n(VmRSS sampled every 5 ms peaked at {rows[1][1]['rss_sampled_peak_mib']:.1f} "
              f"MiB during the big export)")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
