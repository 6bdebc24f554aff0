import hashlib
import os
from pathlib import Path

from kruntimes.agent.artifacts import ArtifactLimits, collect_artifacts
from kruntimes.model import FailureReason


def test_regular_files_are_copied_with_digest(tmp_path: Path) -> None:
    src = tmp_path / "a"
    (src / "reports").mkdir(parents=True)
    (src / "result.json").write_text('{"ok": true}')
    (src / "reports" / "r.txt").write_bytes(b"x" * 10)
    result = collect_artifacts(src, tmp_path / "store", ArtifactLimits())
    assert result.error is None
    by_name = {r.name: r for r in result.refs}
    assert set(by_name) == {"result.json", "reports/r.txt"}
    ref = by_name["result.json"]
    assert ref.digest == "sha256:" + hashlib.sha256(b'{"ok": true}').hexdigest()
    assert ref.size_bytes == 12
    assert ref.content_type == "application/json"
    assert Path(ref.location).read_text() == '{"ok": true}'


def test_symlinks_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.mkdir()
    (src / "passwd").symlink_to("/etc/passwd")
    result = collect_artifacts(src, tmp_path / "store", ArtifactLimits())
    assert result.error is FailureReason.ARTIFACT_INVALID
    assert "symlink" in result.message
    assert not (tmp_path / "store").exists()


def test_fifos_and_bad_names_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.mkdir()
    os.mkfifo(src / "pipe")
    assert "special file" in collect_artifacts(src, tmp_path / "s", ArtifactLimits()).message
    os.unlink(src / "pipe")
    (src / "bad name!").write_text("x")
    result = collect_artifacts(src, tmp_path / "s", ArtifactLimits())
    assert result.error is FailureReason.ARTIFACT_INVALID
    assert "segments" in result.message


def test_size_and_count_limits(tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.mkdir()
    (src / "big").write_bytes(b"x" * 11)
    assert (
        "limit 10"
        in collect_artifacts(src, tmp_path / "s", ArtifactLimits(max_file_bytes=10)).message
    )
    for i in range(33):
        (src / f"f{i}").write_text("x")
    (src / "big").unlink()
    assert "33 artifacts" in collect_artifacts(src, tmp_path / "s", ArtifactLimits()).message


def test_missing_directory_means_no_artifacts(tmp_path: Path) -> None:
    result = collect_artifacts(tmp_path / "none", tmp_path / "s", ArtifactLimits())
    assert result.refs == ()
    assert result.error is None
