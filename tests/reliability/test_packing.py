"""Packing and unpacking as a hostile user tries them: symlink farms, ignore rules
checked against `git check-ignore`, an smtrain home hidden in the source dir,
gzip bombs and path-traversal members. Each test asserts the exact outcome."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtrain.core.errors import UsageError
from smtrain.files.archives import ArchiveTooLargeError, ExtractLimits
from smtrain.files.tarballs import pack_source, safe_extract, write_tar_gz
from tests.helpers import reset_moto

SECRET = "AWS_SECRET_ACCESS_KEY=do-not-ship"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- do-not-ship"
GIB = 1024**3


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def link(root: Path, links: dict[str, str]) -> None:
    for name, target in links.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / name)


def members(archive: Path) -> dict[str, bytes]:
    """Every member's content; fails on anything but a regular file."""
    with tarfile.open(archive) as tar:
        found = {}
        for member in tar.getmembers():
            assert member.isfile(), f"{member.name} is not a regular file"
            found[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
        return found


def symlink_farm(root: Path, outside: Path) -> None:
    """The links of the issue, pointing out of ``root`` and around it."""
    write(outside, {"outside.txt": "outside", "keys/id_ed25519": PRIVATE_KEY, "dir/file.txt": "outside dir"})
    write(root, {"inner.txt": "inner", ".env": SECRET, "sub/real.txt": "real"})
    link(root, {
        "passwd": "/etc/passwd",
        "up.txt": "../outside/outside.txt",
        "config.txt": ".env",
        "id_ed25519": str(outside / "keys/id_ed25519"),
        "outside_dir": str(outside / "dir"),
        "loop_a": "loop_b",
        "loop_b": "loop_a",
        "inner_link.txt": "inner.txt",
        "sub/deep_link.txt": "../inner.txt",
        "dangling": "missing.txt",
        "inner_dir": "sub",
    })


FARM_LEFT_OUT = {
    ".env": "secret",
    "config.txt": "link to .env, which is left out: secret",
    "dangling": "dangling or looping link",
    "id_ed25519": "outside",
    "inner_dir": "link to a folder",
    "loop_a": "dangling or looping link",
    "loop_b": "dangling or looping link",
    "outside_dir": "outside",
    "passwd": "link to /etc/passwd, outside",
    "up.txt": "link to ../outside/outside.txt, outside",
}


def assert_no_secrets(contents: dict[str, bytes]) -> None:
    blob = b"".join(contents.values())
    assert SECRET.encode() not in blob and PRIVATE_KEY.encode() not in blob and b"root:" not in blob


def test_source_symlink_farm_packs_only_in_root_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    symlink_farm(src, tmp_path / "outside")
    write(src, {"train.py": "print(1)"})
    dest = tmp_path / "sourcedir.tar.gz"

    result = pack_source(src, "train.py", dest)

    contents = members(dest)
    assert sorted(contents) == ["inner.txt", "inner_link.txt", "sub/deep_link.txt", "sub/real.txt", "train.py"]
    assert contents["inner_link.txt"] == contents["sub/deep_link.txt"] == b"inner"
    assert_no_secrets(contents)
    left_out = {e.name: e.reason for e in result.excluded}
    assert sorted(left_out) == sorted(FARM_LEFT_OUT)
    for name, reason in FARM_LEFT_OUT.items():
        assert reason in left_out[name], (name, left_out[name])
    warned = "\n".join(result.warnings())
    assert all(str(src.resolve() / name) in warned for name in FARM_LEFT_OUT if name != ".env")
    assert ".env:" not in warned  # a secret file is left out silently; a link is worth a warning


def test_a_link_to_an_ignored_or_tool_file_is_left_out(tmp_path: Path) -> None:
    src = write(tmp_path / "src", {"train.py": "", "debug.log": "log", ".gitignore": "*.log\n", ".git/config": "x",
                                   "cache/.smtrainignore": ""})
    link(src, {"log.txt": "debug.log", "gitconfig": ".git/config"})

    result = pack_source(src, "train.py", tmp_path / "s.tar.gz")

    assert result.names == [".gitignore", "cache/.smtrainignore", "train.py"]
    reasons = {e.name: e.reason for e in result.excluded}
    assert "ignored by .gitignore:1 (*.log)" in reasons["log.txt"]
    assert "tool folder" in reasons["gitconfig"]


def test_model_dir_symlink_farm(tmp_path: Path) -> None:
    model = tmp_path / "model"
    symlink_farm(model, tmp_path / "outside")
    write(model, {"model.joblib": "weights", "conf/.env.prod": SECRET, ".env.example": "KEY="})

    result = write_tar_gz(model, tmp_path / "model.tar.gz")

    contents = members(tmp_path / "model.tar.gz")
    assert sorted(contents) == [".env.example", "inner.txt", "inner_link.txt", "model.joblib",
                                "sub/deep_link.txt", "sub/real.txt"]
    assert_no_secrets(contents)
    assert sorted(e.name for e in result.excluded) == sorted([*FARM_LEFT_OUT, "conf/.env.prod"])
    assert any("passwd: link to /etc/passwd" in w for w in result.warnings())


def test_smtrain_home_inside_the_source_dir_is_never_packed(tmp_path: Path) -> None:
    src = write(tmp_path / "src", {"train.py": "", "runs/state.db": "env values", "runs/jobs/j1/job.log": "",
                                   "other/state.db": "x", "other/jobs/j2/x": "", "notes/state.db": "a plain file"})
    link(tmp_path, {"home-link": str(src / "runs")})

    result = pack_source(src, "train.py", tmp_path / "s.tar.gz", home=tmp_path / "home-link")

    assert result.names == ["notes/state.db", "train.py"]
    assert {e.name: e.reason for e in result.excluded} == {
        "runs/": "smtrain home (SMTRAIN_HOME)", "other/": "smtrain home (SMTRAIN_HOME)"}


def test_a_home_given_by_path_is_left_out_whatever_its_layout(tmp_path: Path) -> None:
    src = write(tmp_path / "src", {"train.py": "", "fresh-home/store/x": "artifact"})

    result = pack_source(src, "train.py", tmp_path / "s.tar.gz", home=src / "fresh-home")

    assert result.names == ["train.py"]


# -- ignore rules: git is the reference -------------------------------------------------

IGNORE_TREE = {
    ".gitignore": "*.log\nbuild/\n!important.log\n/top_only.txt\n",
    "src/.gitignore": "data/\n*.tmp\n!keep.tmp\nlogs/**\n!logs/keep.txt\n",
    "src/sub/.gitignore": "*\n!*/\n!*.py\n!.gitignore\n",
    "src/pkg/.gitignore": "/local_only.py\ncache/\n# a comment\n\n\\#hash.txt\n",
    "src/train.py": "", "src/a.log": "", "src/important.log": "", "src/top_only.txt": "",
    "src/data/x.csv": "", "src/nested/data/y.csv": "", "src/x.tmp": "", "src/keep.tmp": "",
    "src/logs/keep.txt": "", "src/logs/drop.txt": "", "src/build/o.bin": "", "src/sub/a.py": "",
    "src/sub/a.txt": "", "src/sub/deeper/b.py": "", "src/sub/deeper/b.md": "", "src/pkg/local_only.py": "",
    "src/pkg/inner/local_only.py": "", "src/pkg/cache/c.bin": "", "src/pkg/#hash.txt": "", "src/pkg/ok.py": "",
    "src/secret_notes.txt": "", "src/deep/er/secret_notes.txt": "", "src/deep/er/fine.txt": "",
}


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(repo: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)


def not_ignored_by_git(repo: Path, folder: Path) -> list[str]:
    """Files under ``folder`` that `git check-ignore` does not ignore, relative to ``folder``."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and ".git" not in p.relative_to(folder).parts)
    done = git(folder, "check-ignore", "--no-index", "--stdin", stdin="\n".join(files) + "\n")
    assert done.returncode in (0, 1), done.stderr
    return sorted(set(files) - set(done.stdout.splitlines()))


def test_ignore_rules_match_git_check_ignore(tmp_path: Path, isolated_git: None) -> None:
    repo = write(tmp_path / "repo", IGNORE_TREE)
    assert git(repo, "init", "-q").returncode == 0
    (repo / ".git/info/exclude").write_text("secret_notes.txt\n")

    result = pack_source(repo / "src", "train.py", tmp_path / "s.tar.gz")

    assert result.names == not_ignored_by_git(repo, repo / "src")
    assert "sub/deeper/b.py" in result.names and "sub/deeper/b.md" not in result.names  # a sanity check
    reasons = {e.name: e.reason for e in result.excluded}
    assert reasons["a.log"] == "ignored by .gitignore:1 (*.log)"
    assert reasons["secret_notes.txt"] == "ignored by .git/info/exclude:1 (secret_notes.txt)"
    assert reasons["data/"] == "ignored by src/.gitignore:1 (data/)"


def test_pathspec_fallback_matches_git_outside_a_repository(tmp_path: Path, isolated_git: None) -> None:
    tree = {k.removeprefix("src/"): v for k, v in IGNORE_TREE.items() if k.startswith("src/")}
    plain = write(tmp_path / "plain", tree)
    reference = write(tmp_path / "reference", tree)
    assert git(reference, "init", "-q").returncode == 0

    result = pack_source(plain, "train.py", tmp_path / "s.tar.gz")

    assert result.names == not_ignored_by_git(reference, reference)


def test_smtrainignore_comes_last_and_can_re_include(tmp_path: Path, isolated_git: None) -> None:
    repo = write(tmp_path / "repo", {".gitignore": "*.csv\n", "src/train.py": "", "src/small.csv": "",
                                     "src/big.csv": "", "src/notes.md": "",
                                     "src/.smtrainignore": "!small.csv\nnotes.md\n"})
    assert git(repo, "init", "-q").returncode == 0

    result = pack_source(repo / "src", "train.py", tmp_path / "s.tar.gz")

    assert result.names == [".smtrainignore", "small.csv", "train.py"]
    assert {e.name: e.reason for e in result.excluded} == {
        "big.csv": "ignored by .gitignore:1 (*.csv)", "notes.md": "ignored by .smtrainignore:2 (notes.md)"}


@pytest.mark.parametrize("ignore_file", [".smtrainignore", "sub/.gitignore"])
def test_a_bad_ignore_pattern_names_the_file_and_line(tmp_path: Path, ignore_file: str) -> None:
    src = write(tmp_path / "src", {"train.py": "", ignore_file: "fine.txt\n!\n"})

    with pytest.raises(UsageError) as error:
        pack_source(src, "train.py", tmp_path / "s.tar.gz")

    assert error.value.where == f"{src.resolve() / ignore_file}:2"
    assert "invalid ignore pattern '!'" in error.value.what
    assert not str(error.value).startswith("unexpected")
    assert not (tmp_path / "s.tar.gz").exists()


# -- extraction: bombs and traversal ----------------------------------------------------

def gzip_member(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    return compressor.compress(data) + compressor.flush()


def gzip_bomb(path: Path, size: int) -> Path:
    """A tar.gz of one ``size``-byte file of zeros, built from repeated gzip members (cheap to make)."""
    header = tarfile.TarInfo("zeros.bin")
    header.size = size
    mib = 1024 * 1024
    zeros = gzip_member(bytes(mib))
    with open(path, "wb") as out:
        out.write(gzip_member(header.tobuf(format=tarfile.GNU_FORMAT)))
        for _ in range(size // mib):
            out.write(zeros)
        out.write(gzip_member(bytes(1024)))  # the end-of-archive blocks
    return path


def leftovers(folder: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_a_gzip_bomb_is_refused_by_default_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bomb = gzip_bomb(tmp_path / "model.tar.gz", GIB)  # the case: 1 MB that expands to 1 GiB
    assert bomb.stat().st_size < 2 * 1024 * 1024

    with pytest.raises(ArchiveTooLargeError) as error:
        safe_extract(bomb, tmp_path / "out")

    assert error.value.where == str(bomb)
    assert "more than 268,435,456 bytes, 100 times its own size" in error.value.what
    assert "nothing was extracted" in error.value.what
    assert "SMTRAIN_MAX_EXTRACT_RATIO" in error.value.hint
    assert leftovers(tmp_path) == ["model.tar.gz"]


def test_the_byte_limit_holds_whatever_the_ratio(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "model.tar.gz", GIB)

    with pytest.raises(ArchiveTooLargeError) as error:
        safe_extract(bomb, tmp_path / "out", limits=ExtractLimits(max_bytes=GIB // 2, max_ratio=1_000_000))

    assert "more than 536,870,912 bytes (a limit" in error.value.what
    assert "SMTRAIN_MAX_EXTRACT_BYTES" in error.value.hint
    assert leftovers(tmp_path) == ["model.tar.gz"]


def sparse_bomb(path: Path, real_size: int) -> Path:
    """A 1.5 KB tar whose one member's size field says 0 but which expands to ``real_size`` bytes of holes."""
    member = tarfile.TarInfo("holes.bin")
    member.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(member.tobuf(format=tarfile.GNU_FORMAT))
    header[483:495] = b"%011o\0" % real_size  # the GNU "realsize" field
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)  # the checksum
    path.write_bytes(bytes(header) + bytes(1024))
    return path


def test_a_sparse_member_with_a_lying_size_field_is_refused(tmp_path: Path) -> None:
    bomb = sparse_bomb(tmp_path / "sparse.tar", 16 * GIB)

    with pytest.raises(ArchiveTooLargeError, match="more than 268,435,456 bytes, 100 times its own size"):
        safe_extract(bomb, tmp_path / "out", limits=ExtractLimits())

    assert leftovers(tmp_path) == ["sparse.tar"]


def test_the_setting_sets_and_raises_the_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    archive = gzip_bomb(tmp_path / "a.tar.gz", 2 * 1024 * 1024)
    monkeypatch.setenv("SMTRAIN_MAX_EXTRACT_BYTES", str(1024 * 1024))
    with pytest.raises(ArchiveTooLargeError, match="more than 1,048,576 bytes"):
        safe_extract(archive, tmp_path / "out")
    assert leftovers(tmp_path) == ["a.tar.gz"]

    (tmp_path / "smtrain.toml").write_text("max_extract_bytes = 4194304\n")
    monkeypatch.delenv("SMTRAIN_MAX_EXTRACT_BYTES")
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out/zeros.bin").stat().st_size == 2 * 1024 * 1024


def many_members(path: Path, count: int) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for index in range(count):
            tar.addfile(tarfile.TarInfo(f"f{index}"), io.BytesIO(b""))
    return path


def test_too_many_members_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMTRAIN_MAX_EXTRACT_MEMBERS", "50")
    archive = many_members(tmp_path / "a.tar.gz", 51)

    with pytest.raises(ArchiveTooLargeError, match="more than 50 members") as error:
        safe_extract(archive, tmp_path / "out")

    assert "SMTRAIN_MAX_EXTRACT_MEMBERS" in error.value.hint
    assert leftovers(tmp_path) == ["a.tar.gz"]


def test_a_non_positive_limit_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMTRAIN_MAX_EXTRACT_BYTES", "0")

    with pytest.raises(UsageError, match="max_extract_bytes must be 1 or more") as error:
        safe_extract(many_members(tmp_path / "a.tar.gz", 1), tmp_path / "out")

    assert error.value.where == "environment"


def traversal_archive(path: Path, *entries: tuple[str, bytes, str]) -> Path:
    """(name, type, link target) members; regular files hold b'pwned'."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, target in entries:
            member = tarfile.TarInfo(name)
            member.type = kind
            member.linkname = target
            data = b"pwned" if kind == tarfile.REGTYPE else b""
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data else None)
    return path


@pytest.mark.parametrize("entries", [
    [("ok.txt", tarfile.REGTYPE, ""), ("../escape.txt", tarfile.REGTYPE, "")],
    [("ok.txt", tarfile.REGTYPE, ""), ("a/../../escape.txt", tarfile.REGTYPE, "")],
    [("ok.txt", tarfile.REGTYPE, ""), ("/tmp/escape.txt", tarfile.REGTYPE, "")],
    [("via", tarfile.SYMTYPE, ".."), ("via/escape.txt", tarfile.REGTYPE, "")],
    [("hard", tarfile.LNKTYPE, "/etc/passwd")],
    [("ok.txt", tarfile.REGTYPE, ""), ("dev", tarfile.CHRTYPE, "")],
], ids=["dotdot", "nested-dotdot", "absolute", "through-a-link", "hardlink-out", "device"])
def test_path_traversal_members_are_refused(tmp_path: Path, entries: list[tuple[str, bytes, str]]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = traversal_archive(tmp_path / "evil.tar.gz", *entries)
    (work / "mine.txt").write_text("the user's")

    with pytest.raises(UsageError, match="unsafe archive member") as error:
        safe_extract(archive, work / "dest", limits=ExtractLimits())

    assert error.value.where == str(archive)
    assert leftovers(tmp_path, "work") == ["evil.tar.gz"]
    assert leftovers(work) == ["mine.txt"]  # nothing half-extracted, nothing outside
    assert (work / "mine.txt").read_text() == "the user's"


def test_extracting_into_an_existing_folder_merges_and_keeps_the_users_files(tmp_path: Path) -> None:
    dest = write(tmp_path / "dest", {"mine.txt": "keep", "sub/old.txt": "old"})
    archive = traversal_archive(tmp_path / "a.tar.gz", ("sub/new.txt", tarfile.REGTYPE, ""))

    safe_extract(archive, dest, limits=ExtractLimits())

    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "mine.txt", "sub", "sub/new.txt", "sub/old.txt"]
    assert leftovers(tmp_path, "dest") == ["a.tar.gz"]


def test_modes_are_limited_as_tarfiles_data_filter_does(tmp_path: Path) -> None:
    archive = tmp_path / "modes.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, mode in (("setuid", 0o4777), ("group_write", 0o666), ("not_owner_exec", 0o455), ("tool", 0o750)):
            member = tarfile.TarInfo(name)
            member.mode, member.size = mode, 1
            tar.addfile(member, io.BytesIO(b"x"))

    safe_extract(archive, tmp_path / "out", limits=ExtractLimits())

    modes = {p.name: p.stat().st_mode & 0o7777 for p in (tmp_path / "out").iterdir()}
    expected = {name: tarfile.data_filter(tar_member(archive, name), str(tmp_path)).mode for name in modes}
    assert modes == expected == {"setuid": 0o755, "group_write": 0o644, "not_owner_exec": 0o644, "tool": 0o750}


def tar_member(archive: Path, name: str) -> tarfile.TarInfo:
    with tarfile.open(archive) as tar:
        return tar.getmember(name)


def test_packed_members_keep_content_mode_and_need_no_extended_headers(tmp_path: Path) -> None:
    src = write(tmp_path / "src", {"train.py": "print(1)", "bin/run.sh": "#!/bin/sh\n", "d\u00e9j\u00e0.txt": "u"})
    (src / "bin/run.sh").chmod(0o755)

    pack_source(src, "train.py", tmp_path / "s.tar.gz", compresslevel=1)

    with tarfile.open(tmp_path / "s.tar.gz") as tar:
        packed = {m.name: m for m in tar.getmembers()}
    assert packed["bin/run.sh"].mode & 0o777 == 0o755
    assert packed["bin/run.sh"].mtime == int((src / "bin/run.sh").stat().st_mtime)
    assert not packed["train.py"].pax_headers  # a whole-second mtime: one header per member
    safe_extract(tmp_path / "s.tar.gz", tmp_path / "out", limits=ExtractLimits())
    assert (tmp_path / "out/d\u00e9j\u00e0.txt").read_text() == "u"
    assert os.access(tmp_path / "out/bin/run.sh", os.X_OK)


def test_deploy_unpacking_refuses_a_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smtrain.backends.local.serving.container import unpack

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMTRAIN_MAX_EXTRACT_BYTES", str(64 * 1024 * 1024))
    bomb = gzip_bomb(tmp_path / "model.tar.gz", GIB)
    (tmp_path / "endpoint").mkdir()

    with pytest.raises(ArchiveTooLargeError):
        unpack(bomb.as_uri(), tmp_path / "endpoint" / "model", "model")

    assert leftovers(tmp_path / "endpoint") == []


def test_a_file_swapped_for_a_link_while_packing_is_refused(tmp_path: Path) -> None:
    from smtrain.files.packing import scan_source, write_archive

    src = write(tmp_path / "src", {"train.py": "", "data.txt": "data"})
    result = scan_source(src)
    (src / "data.txt").unlink()
    os.symlink("/etc/passwd", src / "data.txt")
    dest = tmp_path / "out" / "s.tar.gz"

    with pytest.raises(UsageError, match=r"cannot read data\.txt") as error:
        write_archive(result, dest)

    assert error.value.where == str(src.resolve() / "data.txt")
    assert leftovers(tmp_path / "out") == []


def test_without_a_git_program_the_source_dirs_own_gitignore_files_apply(
        tmp_path: Path, isolated_git: None, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = write(tmp_path / "repo", {".gitignore": "*.csv\n", "src/train.py": "", "src/a.csv": "",
                                     "src/sub/.gitignore": "*.tmp\n", "src/sub/x.tmp": "", "src/sub/y.py": ""})
    assert git(repo, "init", "-q").returncode == 0
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))

    result = pack_source(repo / "src", "train.py", tmp_path / "s.tar.gz")

    assert result.names == ["a.csv", "sub/.gitignore", "sub/y.py", "train.py"]


@pytest.fixture
def moto_s3(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    yield moto_url
    reset_moto(moto_url)


def test_sagemaker_upload_source_leaves_links_and_the_home_out(
        moto_s3: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    from smtrain.backends.sagemaker import SageMakerBackend
    from smtrain.core.config import Config

    src = write(tmp_path / "src", {"train.py": "", ".env": SECRET, "state/state.db": "", "state/store/x": ""})
    link(src, {"config.txt": ".env", "passwd": "/etc/passwd"})
    config = Config(backend="sagemaker", region="eu-west-1", role="arn:aws:iam::123456789012:role/R",
                    bucket="pack-test", home=src / "state")
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="pack-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    SageMakerBackend(config, sleep=lambda _: None).upload_source(
        src, "train.py", "s3://pack-test/smtrain/j1/source/sourcedir.tar.gz")

    body = s3.get_object(Bucket="pack-test", Key="smtrain/j1/source/sourcedir.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        assert archive.getnames() == ["train.py"]
    err = capsys.readouterr().err
    assert f"warning: left out {src.resolve() / 'passwd'}: link to /etc/passwd" in err
    assert f"warning: left out {src.resolve() / 'config.txt'}: link to .env" in err
