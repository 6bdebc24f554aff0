"""Collect the files a Run left in `KRUNTIME_ARTIFACTS_DIR` into the filesystem artifact store.

Only regular files count: a symlink, device, FIFO or socket fails the Run
with `ArtifactInvalid` (a symlink could point anywhere on the Pod). Names are
paths relative to the directory, validated segment by segment. Each file is
copied with its SHA-256 digest; sizes and counts are bounded.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

from attrs import frozen

from kruntimes.model import ArtifactRef, FailureReason

MAX_ARTIFACTS = 32
MAX_NAME = 253
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


@frozen
class ArtifactLimits:
    max_file_bytes: int = 512 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024


@frozen
class ArtifactsResult:
    refs: tuple[ArtifactRef, ...]
    error: FailureReason | None = None
    message: str = ""


def _fail(message: str) -> ArtifactsResult:
    return ArtifactsResult((), FailureReason.ARTIFACT_INVALID, message)


def _name_problem(name: str) -> str | None:
    if len(name) > MAX_NAME:
        return f"artifact name longer than {MAX_NAME} characters: {name[:60]!r}..."
    for segment in name.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            return f"artifact name {name!r}: segments must be [A-Za-z0-9._-]+, not '.' or '..'"
    return None


def collect_artifacts(source: Path, destination: Path, limits: ArtifactLimits) -> ArtifactsResult:
    """Validate everything under `source` first, then copy it to `destination`."""
    if not source.is_dir():
        return ArtifactsResult(())
    found: list[tuple[str, Path, int]] = []
    total = 0
    for root, dirs, files in os.walk(source, followlinks=False):
        for entry in sorted(dirs) + sorted(files):
            path = Path(root) / entry
            name = path.relative_to(source).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                kind = "symlink" if stat.S_ISLNK(mode) else "special file"
                return _fail(f"artifact {name!r} is a {kind}; only regular files are collected")
            problem = _name_problem(name)
            if problem is not None:
                return _fail(problem)
            size = os.lstat(path).st_size
            if size > limits.max_file_bytes:
                return _fail(f"artifact {name!r} is {size} bytes (limit {limits.max_file_bytes})")
            total += size
            found.append((name, path, size))
    if len(found) > MAX_ARTIFACTS:
        return _fail(f"{len(found)} artifacts (limit {MAX_ARTIFACTS})")
    if total > limits.max_total_bytes:
        return _fail(f"artifacts total {total} bytes (limit {limits.max_total_bytes})")
    refs = []
    for name, path, size in sorted(found):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = _copy_with_digest(path, target)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        refs.append(
            ArtifactRef(
                name=name,
                driver="filesystem",
                type="file",
                location=str(target),
                size_bytes=size,
                digest=f"sha256:{digest}",
                content_type=content_type,
                created_at=datetime.now(UTC).replace(microsecond=0),
            )
        )
    return ArtifactsResult(tuple(refs))


def _copy_with_digest(source: Path, target: Path) -> str:
    sha = hashlib.sha256()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(source, flags), "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            sha.update(chunk)
            dst.write(chunk)
    shutil.copystat(source, target, follow_symlinks=False)
    return sha.hexdigest()
