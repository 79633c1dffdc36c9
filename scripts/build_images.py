"""Build slipway's container images with podman on one machine (``make images``).

    python scripts/build_images.py build [--images trainer,predictor] [--report PATH]
    python scripts/build_images.py lock

``build`` makes the base image once (``debootstrap --variant=minbase bookworm`` into a cache
folder, then ``podman import``; skipped while the image exists), then builds each image from
its Dockerfile under images/ with that base as ``BASE_IMAGE``, and writes a JSON report of
build times and image sizes. Layer caching makes a second run take seconds.

``lock`` derives each image's requirements file from requirements.lock (``uv pip compile``
with the lock as constraints), so that the images pin exactly what the lock pins.

Podman here: ``--isolation chroot`` (no nested namespaces), ``--format docker`` (the OCI
format drops HEALTHCHECK), the host's CA bundle as the ``ca-bundle`` build secret (the pip
steps mount it over the image's bundle file: a ``-v`` mount there would also break Debian's
ca-certificates package, which rewrites that file), pip's find-links folder mounted
read-only at the same path, and images/containers.conf through CONTAINERS_CONF.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from slipway.errors import SlipwayError

ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = ROOT / "images"
CONTAINERS_CONF = IMAGES_DIR / "containers.conf"
CACHE = ROOT / ".slipway" / "images"
REPORT = ROOT / ".slipway" / "images.json"

BASE_TAG = "localhost/slipway-base:bookworm-minbase"
SUITE = "bookworm"
#: Debian's standard CA bundle: pip inside a build verifies TLS against it.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
#: The host pip configuration's find-links folder (the CPU torch wheel lies there).
WHEELS = Path("/opt/wheels")


class ImageBuildError(SlipwayError):
    """A base or image build failed, or a tool it needs is missing."""


@dataclass(frozen=True)
class ImageSpec:
    """One image: its Dockerfile, the stage to build, and its local name."""

    key: str
    dockerfile: str
    target: str
    tag: str
    build_args: dict[str, str] = field(default_factory=dict)
    #: Built by ``make images`` without being asked for.
    default: bool = True
    #: Derived from requirements.lock by ``lock``: (requirements file, input).
    requirements: tuple[str, str] = ("", "")


SPECS: dict[str, ImageSpec] = {
    spec.key: spec
    for spec in (
        ImageSpec(
            "trainer",
            "images/trainer/Dockerfile",
            "trainer",
            "localhost/slipway-trainer:dev",
            requirements=("images/trainer/requirements.txt", "pyproject.toml"),
        ),
        ImageSpec(
            "predictor",
            "images/predictor/Dockerfile",
            "predictor",
            "localhost/slipway-predictor:dev",
            requirements=("images/predictor/requirements.txt", "images/predictor/requirements.in"),
        ),
        # torch's default build pulls several GB of CUDA wheels: only on request.
        ImageSpec(
            "trainer-cuda",
            "images/trainer/Dockerfile",
            "trainer",
            "localhost/slipway-trainer-cuda:dev",
            build_args={"TORCH_REQUIREMENT": "torch==2.13.0"},
            default=False,
        ),
    )
}


@dataclass
class BuildRecord:
    image: str
    tag: str
    seconds: float
    size_bytes: int
    image_id: str


@dataclass
class Report:
    base: str
    base_built: bool
    base_seconds: float
    images: list[BuildRecord]


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def _run(
    cmd: Sequence[str],
    what: str,
    *,
    capture: bool = True,
    stdin: IO[bytes] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a tool; its stdout, or an ImageBuildError naming the step and the tool's error."""
    try:
        done = subprocess.run(
            list(cmd),
            env=podman_env(),
            stdin=stdin,
            capture_output=capture,
            cwd=cwd,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ImageBuildError(f"{what}: {cmd[0]} is not installed ({exc})") from exc
    if done.returncode != 0:
        detail = (done.stderr or b"").decode(errors="replace").strip()[-2000:]
        raise ImageBuildError(f"{what} failed (exit {done.returncode}): {detail}")
    return (done.stdout or b"").decode()


def image_exists(ref: str) -> bool:
    found = subprocess.run(
        ["podman", "image", "exists", ref], env=podman_env(), check=False
    ).returncode
    return found == 0


def inspect(ref: str) -> dict[str, object]:
    [info] = json.loads(_run(["podman", "image", "inspect", ref], f"inspect {ref}"))
    return dict(info)


def ensure_base() -> tuple[bool, float]:
    """Make the local Debian base once; returns (built now, seconds)."""
    if image_exists(BASE_TAG):
        return False, 0.0
    start = time.monotonic()
    rootfs = CACHE / f"rootfs-{SUITE}"
    if not (rootfs / "etc" / "debian_version").is_file():
        partial = rootfs.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        # Debian's default mirror; a half-made tree stays in .partial, never in the cache.
        _run(["debootstrap", "--variant=minbase", SUITE, str(partial)], "debootstrap")
        shutil.rmtree(rootfs, ignore_errors=True)
        partial.rename(rootfs)
    tar = subprocess.Popen(
        # debootstrap's downloaded packages and apt's lists are not part of the system.
        ["tar", "--numeric-owner", "--exclude=./var/cache/apt/archives/*.deb",
         "--exclude=./var/lib/apt/lists/*", "-C", str(rootfs), "-c", "."],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        _run(["podman", "import", "-", BASE_TAG], "podman import", stdin=tar.stdout)
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
    return True, round(time.monotonic() - start, 1)


def git_revision() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def build_command(spec: ImageSpec, base: str, revision: str) -> list[str]:
    cmd = [
        "podman", "build", "--isolation", "chroot", "--format", "docker", "--layers",
        "-f", spec.dockerfile, "--target", spec.target, "-t", spec.tag,
        "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"REVISION={revision}",
        "--secret", f"id=ca-bundle,src={CA_BUNDLE}",
    ]  # fmt: skip
    if WHEELS.is_dir():
        cmd += ["-v", f"{WHEELS}:{WHEELS}:ro"]
    for name, value in spec.build_args.items():
        cmd += ["--build-arg", f"{name}={value}"]
    return [*cmd, str(ROOT)]


def build(keys: Sequence[str], report_path: Path, verbose: bool = False) -> Report:
    unknown = [key for key in keys if key not in SPECS]
    if unknown:
        raise ImageBuildError(f"unknown image(s) {unknown}; known: {sorted(SPECS)}")
    if not CA_BUNDLE.is_file():
        raise ImageBuildError(f"{CA_BUNDLE} is missing: pip inside the build needs it")
    base_built, base_seconds = ensure_base()
    base = BASE_TAG
    revision = git_revision()
    records = []
    for key in keys:
        spec = SPECS[key]
        start = time.monotonic()
        _run(build_command(spec, base, revision), f"build {spec.tag}", capture=not verbose)
        info = inspect(spec.tag)
        records.append(
            BuildRecord(
                key,
                spec.tag,
                round(time.monotonic() - start, 1),
                int(str(info["Size"])),
                str(info["Id"]),
            )
        )
    report = Report(base, base_built, base_seconds, records)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def lock() -> None:
    """Rewrite each image's requirements file, constrained by requirements.lock."""
    uv = shutil.which("uv") or str(ROOT / ".venv" / "bin" / "uv")
    for spec in SPECS.values():
        out, source = spec.requirements
        if not out:
            continue
        _run(
            [uv, "pip", "compile", source, "--constraint", "requirements.lock",
             "--python-version", "3.11", "--no-emit-package", "torch",
             "--find-links", str(WHEELS), "-o", out, "-q"],
            f"uv pip compile {source}",
            cwd=ROOT,
        )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="build the base (cached) and the images")
    build_parser.add_argument(
        "--images",
        default=",".join(key for key, spec in SPECS.items() if spec.default),
        help=f"comma-separated, of {sorted(SPECS)}",
    )
    build_parser.add_argument("--report", type=Path, default=REPORT)
    build_parser.add_argument("--verbose", action="store_true", help="show podman's output")
    sub.add_parser("lock", help="derive images/*/requirements.txt from requirements.lock")
    args = parser.parse_args(argv)
    try:
        if args.command == "lock":
            lock()
            return 0
        keys = [key.strip() for key in args.images.split(",") if key.strip()]
        report = build(keys, args.report, args.verbose)
    except SlipwayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"base {report.base}: " + (f"built in {report.base_seconds} s" if report.base_built
                                      else "cached"))  # fmt: skip
    for record in report.images:
        print(f"{record.tag}: {record.seconds} s, {record.size_bytes / 1e6:.0f} MB")
    print(f"report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
