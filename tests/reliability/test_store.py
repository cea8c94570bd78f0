"""The store: owner-only files, a damaged index detected and rebuilt, OS errors that name the file and the fix.

Everything runs through the installed ``smtrain`` command as a user runs it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from smtrain.core.errors import REBUILD_HINT, from_os_error
from tests.e2e.conftest import Cli, Result

REBUILD_LINE = f"  hint: {REBUILD_HINT}\n"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "train.py").write_text("import os\nprint('trained', os.environ.get('SECRET', ''))\n")
    (project / "bad").mkdir()
    (project / "bad" / "train.py").write_text("raise SystemExit(3)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(project / ".smtrain")
    return Cli(project, env)


def fit(cli: Cli, name: str, source: str = "src", *extra: str) -> Result:
    return cli("fit", "--entry-point", "train.py", "--source-dir", source, "--channel", f"train={source}",
               "--job-name", name, *extra)


def home(cli: Cli) -> Path:
    return Path(cli.env["SMTRAIN_HOME"])


def statuses(cli: Cli) -> list[tuple[str, str]]:
    result = cli("ls", "--json")
    assert result.code == 0, result.err
    return sorted((j["name"], j["status"]) for j in result.json_lines())


def two_jobs(cli: Cli) -> list[tuple[str, str]]:
    assert fit(cli, "good", "src", "--env", "SECRET=hunter2").code == 0
    assert fit(cli, "broken", "bad").code == 1
    return [("broken", "Failed"), ("good", "Completed")]


def assert_clean_error(result: Result, code: int, *needles: str) -> None:
    assert result.code == code, result.err
    assert result.err.startswith("error: "), result.err
    assert "Traceback" not in result.err and "unexpected" not in result.err, result.err
    for needle in needles:
        assert needle in result.err, result.err


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- owner-only ---------------------------------------------------------------------


def test_the_store_is_readable_by_the_owner_only(cli: Cli) -> None:
    two_jobs(cli)
    root = home(cli)
    assert mode(root) == 0o700
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        if (root / name).exists():
            assert mode(root / name) == 0o600, name
    assert mode(root / "jobs") == 0o700
    for job in ("good", "broken"):
        assert mode(root / "jobs" / job) == 0o700
        assert mode(root / "jobs" / job / "record.json") == 0o600
        assert mode(root / "jobs" / job / "job.log") == 0o600
    assert "hunter2" in (root / "jobs" / "good" / "record.json").read_text()  # why it must be private


def test_endpoint_records_are_owner_only(tmp_path: Path) -> None:
    from smtrain.backends.local.store.home import LocalHome

    local = LocalHome(tmp_path / "h")
    local.state().insert("endpoint", "ep", {"EndpointName": "ep", "Environment": {"TOKEN": "x"}})
    local.state().insert("model", "m", {"ModelName": "m"})
    assert mode(local.endpoint_dir("ep")) == 0o700
    assert mode(local.endpoint_dir("ep") / "record.json") == 0o600
    assert mode(local.root / "records" / "model" / "m.json") == 0o600
    assert mode(local.root / "records") == 0o700


def test_an_existing_world_readable_state_db_is_tightened(tmp_path: Path) -> None:
    from smtrain.backends.local.store.home import LocalHome

    local = LocalHome(tmp_path / "h")
    local.state()
    local.state_path.chmod(0o644)
    local.state()
    assert mode(local.state_path) == 0o600


# -- a damaged index ------------------------------------------------------------------


def truncate(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def scramble(db: Path) -> None:
    db.write_bytes(os.urandom(db.stat().st_size))


def empty(db: Path) -> None:
    db.write_bytes(b"")


def remove(db: Path) -> None:
    db.unlink()


def drop_table(db: Path) -> None:
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("DROP TABLE resources")
    connection.close()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (truncate, "the store's index is truncated"),
    "corrupted": (scramble, "the store's index is not an SQLite database (its header is damaged)"),
    "emptied": (empty, "the store's index is empty, but job or endpoint records exist"),
    "missing": (remove, "the store's index is missing, but job or endpoint records exist"),
    "no table": (drop_table, "it has no resources table, but job or endpoint records exist"),
}


def grow(cli: Cli) -> None:
    """Enough rows that the index spans several pages, so that half of it is a real truncation."""
    for index in range(6):
        assert fit(cli, f"extra-{index}").code == 0


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_index_is_named_and_rebuilt(cli: Cli, damage: str) -> None:
    expected = two_jobs(cli)
    if damage == "truncated":
        grow(cli)
        expected = sorted([*expected, *((f"extra-{i}", "Completed") for i in range(6))])
    db = home(cli) / "state.db"
    damage_it, what = DAMAGE[damage]
    damage_it(db)

    for args in (("ls",), ("logs", "good"), ("stop", "good")):
        result = cli(*args)
        assert_clean_error(result, 1, f"error: {db}: {what}")
        assert result.err.endswith(REBUILD_LINE), result.err

    checked = cli("doctor")
    assert checked.code == 1 and f"problem: {db}: {what}" in checked.err, checked.err

    rebuilt = cli("doctor", "--rebuild")
    assert rebuilt.code == 0, rebuilt.err
    assert f"rebuilt {db}: {len(expected)} training-job" in rebuilt.err
    assert statuses(cli) == expected
    assert cli("doctor").code == 0
    if damage != "missing":  # the damaged file is kept, never overwritten
        assert list(home(cli).glob("state.db.before-rebuild-*"))


def test_a_fit_with_an_old_name_after_the_index_was_emptied_changes_nothing(cli: Cli) -> None:
    two_jobs(cli)
    job_folder = home(cli) / "jobs" / "good"
    before = folder_digest(job_folder)
    empty(home(cli) / "state.db")

    refused = fit(cli, "good")
    assert_clean_error(refused, 1, str(home(cli) / "state.db"), "doctor --rebuild")
    assert folder_digest(job_folder) == before

    assert cli("doctor", "--rebuild").code == 0
    again = fit(cli, "good")
    assert_clean_error(again, 1, "already exists")
    assert folder_digest(job_folder) == before
    assert statuses(cli) == [("broken", "Failed"), ("good", "Completed")]


def test_a_fit_whose_job_folder_exists_without_a_record_is_refused(cli: Cli) -> None:
    two_jobs(cli)
    with closing(sqlite3.connect(home(cli) / "state.db")) as connection, connection:
        connection.execute("DELETE FROM resources WHERE name='good'")
    connection.close()
    job_folder = home(cli) / "jobs" / "good"
    before = folder_digest(job_folder)

    refused = fit(cli, "good")
    assert_clean_error(refused, 1, str(job_folder), "doctor --rebuild")
    assert folder_digest(job_folder) == before
    checked = cli("doctor")
    assert checked.code == 1 and "1 saved record(s) missing from the index: training-job good" in checked.err
    assert cli("doctor", "--rebuild").code == 0
    assert statuses(cli) == [("broken", "Failed"), ("good", "Completed")]


def test_rebuild_keeps_rows_that_have_no_saved_copy(cli: Cli) -> None:
    """Homes written before records were saved: the readable rows of the old index are kept."""
    two_jobs(cli)
    (home(cli) / "jobs" / "broken" / "record.json").unlink()
    checked = cli("doctor")
    assert checked.code == 1 and "have no saved copy" in checked.err
    assert cli("doctor", "--rebuild").code == 0
    assert statuses(cli) == [("broken", "Failed"), ("good", "Completed")]
    assert (home(cli) / "jobs" / "broken" / "record.json").is_file()


# -- OS errors through the CLI ----------------------------------------------------------


def test_home_set_to_a_file(cli: Cli) -> None:
    target = cli.cwd / "not-a-folder"
    target.write_text("x")
    cli.env["SMTRAIN_HOME"] = str(target)
    result = cli("ls")
    assert_clean_error(result, 1, f"error: {target}: the smtrain home is a file, not a folder",
                       "set SMTRAIN_HOME (or --home) to a folder")


def test_home_below_a_file(cli: Cli) -> None:
    target = cli.cwd / "file"
    target.write_text("x")
    result = fit(cli, "j", "src", "--home", str(target / "home"))
    assert_clean_error(result, 1, f"error: {target}: a file is there where a folder is needed",
                       f"hint: remove or rename {target}")


@pytest.mark.parametrize("name", ["smtrain.toml", ".env"])
def test_non_utf8_settings_files(cli: Cli, name: str) -> None:
    (cli.cwd / name).write_bytes(b"# caf\xe9\nbackend = 'local'\n" if name == "smtrain.toml" else b"X=caf\xe9\n")
    result = cli("ls")
    assert_clean_error(result, 2, f"error: {cli.cwd / name}: not UTF-8 text", "hint: save the file as UTF-8")


def test_smtrain_key_that_is_not_a_table(cli: Cli) -> None:
    (cli.cwd / "smtrain.toml").write_text("smtrain = 5\n")
    result = cli("ls")
    assert_clean_error(result, 2, f"error: {cli.cwd / 'smtrain.toml'}: 'smtrain' must be a table of settings, got 5",
                       "[smtrain]")


def test_prepare_out_is_a_file(cli: Cli) -> None:
    out = cli.cwd / "data.csv"
    out.write_text("keep me")
    result = cli("prepare", "--out", str(out))
    assert_clean_error(result, 1, f"error: {out}: a file is there where a folder is needed", "hint:")
    assert out.read_text() == "keep me"


def in_namespace(cli: Cli, setup: str, *args: str) -> Result:
    """Run smtrain in a private mount namespace (for read-only and full file systems), or skip."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unprivileged user and mount namespaces (unshare -rm)")
    from tests.e2e.conftest import SMTRAIN

    command = " ".join(["exec", SMTRAIN, *(f"'{a}'" for a in args)])
    done = subprocess.run([unshare, "-rm", "sh", "-c", f"set -e; {setup}; {command}"], cwd=cli.cwd, env=cli.env,
                          capture_output=True, text=True, timeout=120)
    return Result(done.returncode, done.stdout, done.stderr)


def test_read_only_home(cli: Cli) -> None:
    two_jobs(cli)
    root = home(cli)
    setup = f"mount --bind {root} {root}; mount -o remount,bind,ro {root}"
    listed = in_namespace(cli, setup, "ls", "--json")
    if listed.code != 0:  # SQLite cannot open a WAL database read-only without its -shm file
        assert_clean_error(listed, 1, f"error: {root / 'state.db'}: cannot write the store's index",
                           f"make {root} and its files writable")
    result = in_namespace(cli, setup, "fit", "--entry-point", "train.py", "--source-dir", "src",
                          "--channel", "train=src", "--job-name", "third")
    # The name is reserved in the index before anything else is written, so that is what refuses first.
    assert_clean_error(result, 1, f"error: {root / 'state.db'}: cannot write the store's index",
                       f"make {root} and its files writable")


def test_full_disk_under_the_home(cli: Cli) -> None:
    root = home(cli)
    root.mkdir()
    result = in_namespace(cli, f"mount -t tmpfs -o size=16k tmpfs {root}", "fit", "--entry-point", "train.py",
                          "--source-dir", "src", "--channel", "train=src", "--job-name", "j")
    assert_clean_error(result, 1, str(root), "free disk space")


def test_full_disk_under_prepare_out(cli: Cli) -> None:
    out = cli.cwd / "small"
    out.mkdir()
    result = in_namespace(cli, f"mount -t tmpfs -o size=8k tmpfs {out}", "prepare", "--out", str(out / "data"))
    assert_clean_error(result, 1, "no space left on the device (ENOSPC)", "free disk space")


# -- the translation itself ---------------------------------------------------------


@pytest.mark.parametrize(("code", "what", "fix"), [
    (errno.ENOSPC, "no space left on the device (ENOSPC)", "free disk space where /h/x lives"),
    (errno.EACCES, "permission denied (EACCES)", "make /h/x writable"),
    (errno.EROFS, "read-only file system (EROFS)", "use a writable location"),
    (errno.ENOTDIR, "a part of the path is a file, not a folder (ENOTDIR)", "point the setting at a folder"),
])
def test_os_errors_name_the_file_and_the_fix(code: int, what: str, fix: str) -> None:
    error = from_os_error(OSError(code, os.strerror(code), "/h/x"))
    assert error.where == "/h/x" and error.what == what and fix in error.hint
    assert error.exit_code == 1


def test_network_errors_are_not_called_file_errors() -> None:
    error = from_os_error(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert error.where == "" and error.what == "connection refused (ECONNREFUSED)"
    assert "server is running" in error.hint


@pytest.mark.parametrize(("message", "what", "fix"), [
    ("database or disk is full", "no space left for the store's index", "free disk space"),
    ("disk I/O error", "the disk refused a read or write", "free disk space"),
    ("attempt to write a readonly database", "cannot write the store's index", "writable"),
    ("database is locked", "the store is busy", "again in a moment"),
    ("database disk image is malformed", "the store's index is damaged", "doctor --rebuild"),
])
def test_sqlite_errors_name_the_database_and_the_fix(tmp_path: Path, message: str, what: str, fix: str) -> None:
    from smtrain.backends.local.store.home import LocalHome

    db = LocalHome(tmp_path / "h").state()
    error = db.translate(sqlite3.OperationalError(message))
    assert error.where == str(db.path) and error.what.startswith(what) and fix in error.hint


def test_disk_full_while_saving_a_record_leaves_the_index_unchanged(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from smtrain.backends.local.store import records
    from smtrain.backends.local.store.home import LocalHome

    db = LocalHome(tmp_path / "h").state()
    db.insert("model", "m", {"v": 1})

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(records, "write_private", full)
    with pytest.raises(OSError) as raised:
        db.update("model", "m", lambda body: body.update(v=2))
    assert "no space left" in str(from_os_error(raised.value))
    assert db.get("model", "m") == {"v": 1}


def test_an_insert_refused_before_saving_leaves_no_row_and_no_file(tmp_path: Path) -> None:
    from smtrain.backends.local.store.home import LocalHome

    local = LocalHome(tmp_path / "h")
    db = local.state()

    def refuse() -> None:
        raise RuntimeError("taken")

    with pytest.raises(RuntimeError):
        db.insert("training-job", "j", {"TrainingJobName": "j"}, before_save=refuse)
    assert db.get("training-job", "j") is None
    assert not local.job_dir("j").exists()
    assert db.insert("training-job", "j", {"TrainingJobName": "j"})
    assert not db.insert("training-job", "j", {"TrainingJobName": "j"})


def test_wal_files_are_owner_only(tmp_path: Path) -> None:
    from smtrain.backends.local.store.home import LocalHome

    local = LocalHome(tmp_path / "h")
    local.state().insert("model", "m", {"ModelName": "m"})
    reader = sqlite3.connect(local.state_path)  # an open connection keeps the WAL files in place
    try:
        reader.execute("SELECT * FROM resources").fetchall()
        for name in ("state.db", "state.db-wal", "state.db-shm"):
            assert mode(local.root / name) == 0o600, name
    finally:
        reader.close()
