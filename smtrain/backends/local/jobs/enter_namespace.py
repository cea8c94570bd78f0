"""Run a command with its job's folder at ``/opt/ml``, in a mount namespace of its own.

    python -I enter_namespace.py JOB_FOLDER -- COMMAND [ARG...]
    python -I enter_namespace.py --probe

What ``unshare --user --map-current-user --mount`` does, then a bind mount, with
no privilege: a new user namespace (where this process holds the capabilities
a mount needs) and a new mount namespace, private so that nothing mounted here
reaches the host. ``/opt/ml`` then shows ``JOB_FOLDER``, for this process and
everything it starts, and for no other process: concurrent jobs each see
their own. The user keeps its own uid and gid inside (mapped to themselves),
so files the job writes belong to the user, and the capabilities end with
``execve``: the command runs with the user's usual rights.

``/opt/ml`` need not exist on the host. When it does not, a tmpfs is mounted on
``/opt`` (an empty directory only this namespace sees), every entry the host's
``/opt`` holds is bound back into it, and ``ml`` is created beside them. When
``/opt`` itself is missing nothing can be created in ``/`` without privilege,
so the namespace is refused.

Variables that name the job folder (``SM_*``, ``SAGEMAKER_BASE_DIR``,
``PYTHONPATH``) are rewritten to name ``/opt/ml``, and the working directory
moves with them, so the command sees the paths SageMaker's container shows.

If the namespace cannot be made, the command runs without it (a warning
first, on stderr), as it would have with ``SMTRAIN_JOB_NAMESPACE=off``.
``--probe`` makes one around an empty temporary folder and exits 0 if that
worked, 1 (with the reason on stderr) if not.

Standard library only, run with ``python -I``: it must work whatever the job's
``PYTHONPATH`` holds, and start fast.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat
import sys
import tempfile
from collections.abc import Mapping, Sequence

CONTAINER_ROOT = "/opt/ml"
OPT = "/opt"
METADATA = CONTAINER_ROOT + "/metadata"  # where a notebook instance or Studio describes itself
# <linux/sched.h> and <linux/mount.h> (man 2 unshare, man 2 mount).
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
REWRITTEN_PREFIXES = ("SM_",)
REWRITTEN_NAMES = ("SAGEMAKER_BASE_DIR", "PYTHONPATH")
WARNING = "smtrain: WARNING no private /opt/ml for this job, its folder stays at {folder}: {why}"


class NamespaceError(OSError):
    """The namespace, the mapping or a mount was refused; the message says which."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise NamespaceError(errno, f"{what}: {os.strerror(errno)}")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except OSError as exc:
        raise NamespaceError(exc.errno, f"writing {path}: {exc.strerror}") from None


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def encode(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    _check(libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
           f"mount {source or ''} on {target}")


def unshare() -> ctypes.CDLL:
    """A new user and mount namespace for this process, the user mapped to itself, mounts private."""
    if not sys.platform.startswith("linux"):
        raise NamespaceError(0, "mount namespaces are Linux only")
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
    # user_namespaces(7): an unprivileged process must deny setgroups before it may write gid_map.
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    # mount_namespaces(7): without this, mounts below could propagate to a shared peer (systemd makes / shared).
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    return libc


def _bind_back(libc: ctypes.CDLL, opt_fd: int, entries: Sequence[str]) -> None:
    """Each entry of the host's /opt (reached through ``opt_fd``, beneath the tmpfs) bound at its old place."""
    for entry in entries:
        source = f"/proc/self/fd/{opt_fd}/{entry}"
        target = os.path.join(OPT, entry)
        mode = os.lstat(source).st_mode
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(source), target)
            continue
        if stat.S_ISDIR(mode):
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        _mount(libc, source, target, None, MS_BIND | MS_REC)


def make_container_root(libc: ctypes.CDLL) -> None:
    """Make ``/opt/ml`` exist in this namespace, the rest of ``/opt`` as it was."""
    if os.path.isdir(CONTAINER_ROOT):
        return
    if not os.path.isdir(OPT) or os.path.islink(OPT):
        raise NamespaceError(0, f"{OPT} is not a directory here, and {CONTAINER_ROOT} cannot be made without it")
    opt_fd = os.open(OPT, os.O_PATH | os.O_DIRECTORY)
    try:
        entries = sorted(os.listdir(OPT))
        _mount(libc, "tmpfs", OPT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
        _bind_back(libc, opt_fd, entries)
    finally:
        os.close(opt_fd)
    os.mkdir(CONTAINER_ROOT)


def enter(job_folder: str) -> None:
    """This process, from now on, sees ``job_folder`` at ``/opt/ml``."""
    libc = unshare()
    make_container_root(libc)
    metadata = _open_dir(METADATA)
    try:
        _mount(libc, job_folder, CONTAINER_ROOT, None, MS_BIND | MS_REC)
        if metadata is not None:
            _keep_metadata(libc, metadata)
    finally:
        if metadata is not None:
            os.close(metadata)


def _open_dir(path: str) -> int | None:
    try:
        return os.open(path, os.O_PATH | os.O_DIRECTORY)
    except OSError:
        return None


def _keep_metadata(libc: ctypes.CDLL, fd: int) -> None:
    """A notebook instance's ``/opt/ml/metadata``, still there: the SDK's local mode mounts it into its
    containers too (``_prepare_training_volumes`` in sagemaker/local/image.py, SDK v2)."""
    os.makedirs(METADATA, exist_ok=True)
    _mount(libc, f"/proc/self/fd/{fd}", METADATA, None, MS_BIND | MS_REC)


def rewrite(value: str, folder: str) -> str:
    """``value`` with each path in or at ``folder`` moved to ``/opt/ml`` (in JSON and ``:`` lists alike)."""
    out, start = [], 0
    while (at := value.find(folder, start)) >= 0:
        end = at + len(folder)
        follows = value[end:end + 1]
        if follows in ("", "/", ":", '"', ",", "'", " "):
            out.append(value[start:at] + CONTAINER_ROOT)
        else:
            out.append(value[start:end])
        start = end
    out.append(value[start:])
    return "".join(out)


def container_environment(environ: Mapping[str, str], folders: Sequence[str]) -> dict[str, str]:
    env = dict(environ)
    for name, value in environ.items():
        if name.startswith(REWRITTEN_PREFIXES) or name in REWRITTEN_NAMES:
            for folder in folders:
                value = rewrite(value, folder)
            env[name] = value
    return env


def container_cwd(cwd: str, folders: Sequence[str]) -> str:
    for folder in folders:
        if cwd == folder or cwd.startswith(folder + "/"):
            return CONTAINER_ROOT + cwd[len(folder):]
    return cwd


def probe() -> int:
    with tempfile.TemporaryDirectory(prefix="smtrain-probe-") as folder:
        marker = os.path.join(folder, "probe")
        _write(marker, "")
        try:
            enter(folder)
            if not os.path.exists(os.path.join(CONTAINER_ROOT, "probe")):
                raise NamespaceError(0, f"{CONTAINER_ROOT} does not show the bound folder")
        except OSError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    return 0


def run(job_folder: str, command: Sequence[str]) -> int:
    folder = os.path.realpath(job_folder)
    folders = sorted({folder, os.path.abspath(job_folder)}, key=len, reverse=True)  # as given, and resolved
    cwd = os.getcwd()
    env: Mapping[str, str] = os.environ
    try:
        enter(folder)
        env = container_environment(os.environ, folders)
        os.chdir(container_cwd(os.path.realpath(cwd), folders))
    except OSError as exc:
        print(WARNING.format(folder=folder, why=exc), file=sys.stderr, flush=True)
    try:
        os.execvpe(command[0], list(command), env)
    except OSError as exc:
        print(f"smtrain: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--probe"]:
        return probe()
    if len(args) < 3 or args[1] != "--":
        print("usage: enter_namespace.py JOB_FOLDER -- COMMAND [ARG...] | --probe", file=sys.stderr)
        return 2
    return run(args[0], args[2:])


if __name__ == "__main__":
    sys.exit(main())
