"""Source archives honour ignore files and never ship secrets; extraction refuses unsafe members."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtrain.core.errors import SmtrainError, UsageError
from smtrain.files.tarballs import pack_source, safe_extract, write_tar_gz


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def archived(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return sorted(tar.getnames())


def test_ships_sources_and_returns_the_archived_names(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"train.py": "print(1)", "lib/util.py": "", "requirements.txt": "x"})
    dest = tmp_path / "out" / "sourcedir.tar.gz"

    names = pack_source(src, "train.py", dest).names

    assert names == ["lib/util.py", "requirements.txt", "train.py"]
    assert archived(dest) == names
    with tarfile.open(dest) as tar:
        assert tar.extractfile("train.py").read() == b"print(1)"  # type: ignore[union-attr]


def test_never_ships_env_files_or_tool_directories(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {
        "train.py": "", ".env": "AWS_SECRET_ACCESS_KEY=x", ".env.local": "x", "conf/.env.prod": "x",
        ".env.example": "AWS_PROFILE=", ".git/config": "", "__pycache__/train.cpython-311.pyc": "",
        "pkg/__pycache__/m.pyc": "", ".venv/bin/python": "", ".smtrain/state.db": "",
        # Even an explicit re-include cannot ship a secret.
        ".smtrainignore": "!.env\n",
    })

    names = pack_source(src, "train.py", tmp_path / "s.tar.gz").names

    assert names == [".env.example", ".smtrainignore", "train.py"]


def test_honours_gitignore_and_smtrainignore(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {
        "train.py": "", "data/big.csv": "", "notes.md": "", "keep.log": "", "debug.log": "",
        "build/out.bin": "", "sub/build/x": "",
        ".gitignore": "data/\n*.log\nbuild/\n",
        ".smtrainignore": "notes.md\n!keep.log\n",
    })

    names = pack_source(src, "train.py", tmp_path / "s.tar.gz").names

    assert names == [".gitignore", ".smtrainignore", "keep.log", "train.py"]


def test_missing_entry_point_names_the_path(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"other.py": ""})

    with pytest.raises(UsageError) as error:
        pack_source(src, "train.py", tmp_path / "s.tar.gz")

    assert str(src / "train.py") in str(error.value)
    assert error.value.hint
    assert not (tmp_path / "s.tar.gz").exists()


def test_entry_point_excluded_by_an_ignore_file_is_an_error(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"scripts/train.py": "", ".gitignore": "scripts/\n"})

    with pytest.raises(UsageError, match=r"excluded: ignored by \.gitignore:1 \(scripts/\)") as error:
        pack_source(src, "scripts/train.py", tmp_path / "s.tar.gz")

    assert "!scripts/train.py" in error.value.hint


def test_archive_inside_the_source_dir_does_not_ship_itself(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"train.py": ""})
    dest = src / "dist" / "sourcedir.tar.gz"

    pack_source(src, "train.py", dest)
    names = pack_source(src, "train.py", dest).names

    assert names == ["train.py"]


def test_a_failed_write_leaves_no_archive_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_tree(tmp_path / "src", {"train.py": ""})
    out = tmp_path / "out"
    out.mkdir()

    def broken_add(self: tarfile.TarFile, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(tarfile.TarFile, "addfile", broken_add)
    with pytest.raises(SmtrainError, match="cannot write the archive: disk full") as error:
        pack_source(src, "train.py", out / "sourcedir.tar.gz")

    assert error.value.where == str(out / "sourcedir.tar.gz")

    assert list(out.iterdir()) == []


def test_write_tar_gz_puts_files_at_the_archive_root(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"model.joblib": "m", "sub/extra.json": "{}"})

    names = write_tar_gz(model, tmp_path / "model.tar.gz").names

    assert names == ["model.joblib", "sub/extra.json"]
    assert archived(tmp_path / "model.tar.gz") == names


def test_safe_extract_round_trips(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"train.py": "x = 1", "lib/util.py": "y = 2"})
    pack_source(src, "train.py", tmp_path / "s.tar.gz")

    safe_extract(tmp_path / "s.tar.gz", tmp_path / "code")

    assert (tmp_path / "code" / "lib" / "util.py").read_text() == "y = 2"


def tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize(
    ("name", "kind", "link"),
    [
        ("../escape.txt", tarfile.REGTYPE, ""),
        ("/etc/evil.txt", tarfile.REGTYPE, ""),
        ("link", tarfile.SYMTYPE, "/etc/passwd"),
        ("inner-link", tarfile.SYMTYPE, "train.py"),
        ("hard", tarfile.LNKTYPE, "train.py"),
    ],
)
def test_safe_extract_refuses_unsafe_members(tmp_path: Path, name: str, kind: bytes, link: str) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    archive = tar_with(tmp_path, member, b"x")

    with pytest.raises(UsageError, match="unsafe archive member"):
        safe_extract(archive, tmp_path / "out")

    assert not (tmp_path / "escape.txt").exists()


def test_safe_extract_of_a_corrupt_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "bad.tar.gz").write_bytes(b"not a tar")

    with pytest.raises(UsageError, match="cannot read the archive"):
        safe_extract(tmp_path / "bad.tar.gz", tmp_path / "out")


def test_the_bytes_written_are_counted_not_only_the_header_sizes(tmp_path: Path) -> None:
    from smtrain.files.archives import ArchiveTooLargeError, ExtractLimits, _Extraction

    class LyingTar:
        """A reader whose member yields more data than its header declares."""

        def __iter__(self) -> Iterator[tarfile.TarInfo]:
            member = tarfile.TarInfo("f.bin")
            member.size = 10
            yield member

        def extractfile(self, member: tarfile.TarInfo) -> io.BytesIO:
            return io.BytesIO(bytes(100))

    limits = ExtractLimits()
    extraction = _Extraction(LyingTar(), tmp_path, tmp_path / "a.tar", limits, 50, "SMTRAIN_MAX_EXTRACT_BYTES")  # type: ignore[arg-type]
    with pytest.raises(ArchiveTooLargeError, match="more than 50 bytes"):
        extraction.run()

    assert (tmp_path / "f.bin").stat().st_size <= 50  # the chunk over the limit was never written


def test_the_byte_limit_is_the_ratio_beyond_256_mib_capped_by_max_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smtrain.files.archives import ExtractLimits

    assert ExtractLimits().byte_limit(1_000_000) == (256 * 1024**2, "SMTRAIN_MAX_EXTRACT_RATIO")
    assert ExtractLimits().byte_limit(50_000_000) == (5_000_000_000, "SMTRAIN_MAX_EXTRACT_RATIO")
    assert ExtractLimits().byte_limit(1_000_000_000) == (10 * 1024**3, "SMTRAIN_MAX_EXTRACT_BYTES")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMTRAIN_MAX_EXTRACT_RATIO", "2000")
    assert ExtractLimits.from_settings().byte_limit(1_000_000) == (2_000_000_000, "SMTRAIN_MAX_EXTRACT_RATIO")
