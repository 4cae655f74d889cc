"""The JVM engines' jars, resolved from Maven Central by the small Maven projects in
`maven/<engine>/pom.xml` and copied into a cache directory once per pom version.

Maven's local repository (~/.m2) caches the downloads across runs; the copied jars live
in `$PHOTOSHARE_ENGINES_CACHE` (default `~/.cache/photoshare/engines`), one directory per
engine and pom content, so a changed pom resolves afresh and an unchanged one costs
nothing.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

MAVEN_PROJECTS = Path(__file__).parent / "maven"
ENGINES = ("kafka", "cassandra", "opensearch", "s3proxy")


class JarsError(RuntimeError):
    """Maven could not resolve an engine's jars; the message carries Maven's output."""


def cache_root() -> Path:
    configured = os.environ.get("PHOTOSHARE_ENGINES_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "photoshare" / "engines"


def engine_dir(engine: str) -> Path:
    """Where `engine`'s jars go: named by the hash of its Maven project's files."""
    project = MAVEN_PROJECTS / engine
    digest = hashlib.sha256()
    for path in sorted(project.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(project).as_posix().encode())
            digest.update(path.read_bytes())
    return cache_root() / f"{engine}-{digest.hexdigest()[:12]}"


def resolve(engine: str) -> Path:
    """The directory holding every jar `engine` needs, resolving it with Maven if this pom
    was never resolved on this machine. Safe to call from several processes at once."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    target = engine_dir(engine)
    done = target / ".resolved"
    if done.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{engine}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second resolver waits, then finds it done
        if done.exists():
            return target
        if shutil.which("mvn") is None:
            raise JarsError("Maven (`mvn`) is not installed: `apt-get install maven`")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(MAVEN_PROJECTS / engine / "pom.xml"),
             "dependency:copy-dependencies", f"-Dlib.dir={staging}"],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise JarsError(f"Maven could not resolve the {engine} jars:\n"
                            f"{(result.stdout + result.stderr)[-4000:]}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        done.touch()
    return target


def classpath(lib_dir: Path) -> str:
    return os.pathsep.join(sorted(glob.glob(str(lib_dir / "*.jar"))))


def java17() -> str:
    """The `java` of a JDK 17: Cassandra 5.0 and OpenSearch 2.19 support 17, not 25."""
    candidates = [os.environ.get("PHOTOSHARE_JAVA17_HOME", ""),
                  *sorted(glob.glob("/usr/lib/jvm/java-17-openjdk*"))]
    for home in candidates:
        if home and os.access(Path(home) / "bin" / "java", os.X_OK):
            return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise JarsError("no Java found: install OpenJDK 17 "
                        "(`apt-get install openjdk-17-jre-headless`)")
    return found


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(
        prog="python -m photoshare.infra.localcluster.jars",
        description="Resolve the JVM engines' jars from Maven Central into the local cache "
                    "(once per pom version) and print where they are.")
    parser.add_argument("engines", nargs="*", metavar="ENGINE",
                        help=f"any of {', '.join(ENGINES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = [engine for engine in args.engines if engine not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    for engine in args.engines or ENGINES:
        try:
            print(f"{engine}: {resolve(engine)}")
        except JarsError as error:
            print(error)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
