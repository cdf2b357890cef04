"""SPEC §5: download, checkout, verify; link modes; paths that would escape the root."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import artreg
from conftest import make

BIG = os.urandom(3000)


@pytest.fixture
def v(reg: artreg.Registry) -> artreg.ArtifactVersion:
    return reg.log_artifact(make(a=b"alpha", d__b=b"bravo", d__e__big=BIG), project="p")


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


EXPECTED = {"a": b"alpha", "d/b": b"bravo", "d/e/big": BIG}


def test_default_root(v: artreg.ArtifactVersion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = v.download()
    assert root == str(tmp_path / "artifacts" / "ds:v0")
    assert tree(Path(root)) == EXPECTED
    monkeypatch.setenv("ARTREG_ARTIFACT_DIR", str(tmp_path / "elsewhere"))
    assert v.download() == str(tmp_path / "elsewhere" / "ds:v0")


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink", "auto"])
def test_link_modes_give_the_same_tree(v: artreg.ArtifactVersion, tmp_path: Path, link: str) -> None:
    root = Path(v.download(tmp_path / link, link=link))
    assert tree(root) == EXPECTED
    big = root / "d" / "e" / "big"
    if link == "hardlink":
        assert big.stat().st_nlink == 2
        assert stat.S_IMODE(big.stat().st_mode) & 0o222 == 0
    if link == "symlink":
        assert big.is_symlink() and not (root / "a").is_symlink()  # inline blobs are copied
    if link == "copy":
        assert big.stat().st_nlink == 1 and stat.S_IMODE(big.stat().st_mode) & 0o200
    v.verify(root)


def test_reflink_is_clone_or_a_clear_error(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    try:
        root = v.download(tmp_path / "r", link="reflink")
    except artreg.ArtregError as exc:
        assert "reflink" in str(exc)
        assert not (tmp_path / "r" / "d" / "e" / "big").exists()
    else:
        assert tree(Path(root)) == EXPECTED


def test_unknown_link_mode(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    with pytest.raises(artreg.InvalidName, match="link must be one of"):
        v.download(tmp_path / "x", link="teleport")


def test_path_prefix(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = Path(v.download(tmp_path / "x", path_prefix="d/e"))
    assert tree(root) == {"d/e/big": BIG}
    root = Path(v.download(tmp_path / "y", path_prefix="a"))
    assert tree(root) == {"a": b"alpha"}


def test_present_files_are_left_alone_and_wrong_ones_replaced(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = Path(v.download(tmp_path / "x"))
    (root / "a").write_bytes(b"local edit")
    before = (root / "d" / "b").stat()
    v.download(root)
    assert (root / "a").read_bytes() == b"alpha"
    after = (root / "d" / "b").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_download_never_leaves_temporary_files(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = Path(v.download(tmp_path / "x", link="hardlink"))
    v.download(root, link="symlink")
    assert not [p for p in root.rglob("*") if ".artreg-" in p.name]


def test_corrupt_blob_is_not_served_by_a_copy(reg: artreg.Registry, v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    blob = reg._store.object_path(v.get_entry("d/e/big").digest)
    blob.chmod(0o644)
    blob.write_bytes(b"X" * len(BIG))
    with pytest.raises(artreg.IntegrityError):
        v.download(tmp_path / "x")
    assert not (tmp_path / "x" / "d" / "e" / "big").exists()
    assert not [p for p in (tmp_path / "x").rglob("*") if ".artreg-" in p.name]


def test_escaping_manifest_paths_are_refused_before_writing(reg: artreg.Registry, tmp_path: Path) -> None:
    v = reg.log_artifact(make(a=b"alpha", z=b"zulu"), project="p")
    # A manifest cannot be built with such a path; forge one in the database.
    reg._db.connection().execute("UPDATE chunk_entries SET path = '../evil' WHERE path = 'z'")
    with pytest.raises(artreg.InvalidName, match=r"'\.\.'"):
        v.download(tmp_path / "x")
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "x" / "a").exists()


def test_symlinked_folder_inside_the_root_cannot_redirect_writes(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = tmp_path / "x"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "d").symlink_to(outside)
    with pytest.raises(artreg.InvalidName, match="outside"):
        v.download(root)
    assert list(outside.iterdir()) == []
    assert not (root / "a").exists()


def test_a_symlinked_subfolder_is_refused_whatever_folder_comes_first(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = tmp_path / "x"
    (root / "d").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "d" / "e").symlink_to(outside)
    with pytest.raises(artreg.InvalidName, match="'d/e/big' would be written outside"):
        v.download(root)
    assert list(outside.iterdir()) == []
    assert not (root / "a").exists() and not (root / "d" / "b").exists()


def test_blob_rows_are_read_in_batches(reg: artreg.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"f{i}__g{i % 3}": (b"x" * 2000 if i % 4 == 0 else f"small {i}".encode()) for i in range(12)}
    v = reg.log_artifact(make(**files), project="p")
    monkeypatch.setattr(artreg._download, "BATCH", 2)
    monkeypatch.setattr(artreg._download, "BATCH_BYTES", 3000)
    queries = []
    real_rows = reg._store.rows
    monkeypatch.setattr(reg._store, "rows", lambda digests: queries.append(1) or real_rows(digests))
    root = Path(v.download(tmp_path / "x"))
    assert tree(root) == {path.replace("__", "/"): data for path, data in files.items()}
    assert len(queries) >= 6
    umask = os.umask(0o022)
    os.umask(umask)
    assert {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()} == {0o666 & ~umask}
    v.verify(root)


def test_a_corrupt_blob_late_in_a_download_leaves_no_temp(reg: artreg.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v = reg.log_artifact(make(a=b"alpha", b=b"bravo", c=b"charlie", d=b"delta"), project="p")
    monkeypatch.setattr(artreg._download, "BATCH", 1)
    with reg._db.write() as con:
        con.execute("UPDATE blobs SET data = ? WHERE digest = ?", (b"CHARLIE", v.get_entry("c").digest))
    with pytest.raises(artreg.IntegrityError, match="corrupt"):
        v.download(tmp_path / "x")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["a", "b"]


def test_checkout_removes_extra_files(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = tmp_path / "x"
    (root / "old" / "deep").mkdir(parents=True)
    (root / "old" / "deep" / "stale.txt").write_text("stale")
    (root / "extra.txt").write_text("extra")
    v.checkout(root)
    assert tree(root) == EXPECTED
    assert not (root / "old").exists()


def test_verify_lists_missing_extra_and_mismatched(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = Path(v.download(tmp_path / "x"))
    v.verify(root)
    (root / "a").write_bytes(b"alphA")
    (root / "d" / "b").unlink()
    (root / "new").write_text("n")
    with pytest.raises(artreg.IntegrityError) as info:
        v.verify(root)
    assert (info.value.missing, info.value.mismatched, info.value.extra) == (["d/b"], ["a"], ["new"])
    assert "missing: d/b" in str(info.value)


def test_verify_stored_blobs(reg: artreg.Registry, v: artreg.ArtifactVersion) -> None:
    v.verify()
    blob = reg._store.object_path(v.get_entry("d/e/big").digest)
    blob.chmod(0o644)
    blob.write_bytes(b"X" * len(BIG))
    with pytest.raises(artreg.IntegrityError) as info:
        v.verify()
    assert info.value.mismatched == ["d/e/big"]
    blob.unlink()
    with pytest.raises(artreg.IntegrityError) as info:
        v.verify()
    assert info.value.missing == ["d/e/big"]
