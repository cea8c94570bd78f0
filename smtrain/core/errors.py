"""smtrain's exceptions.

Every error a user can cause says where it happened, what went wrong and
what to do about it. The CLI prints ``str(error)`` and exits with
``error.exit_code``; it shows a traceback only with ``--debug``.

    SmtrainError                 base; exit code 1
    ├── UsageError               bad input on the command line or in config; exit code 2
    │   └── ArgumentError        bad input to the Python API, naming its keyword argument
    ├── NotFoundError            an unknown job, endpoint, model or file
    ├── JobFailedError           a training job ended Failed or Stopped
    ├── BackendError             the backend (local service or AWS) refused a request
    │   └── AwsError             an AWS call failed; carries the service error code
    ├── EndpointError            an endpoint could not start or answer
    ├── StoreError               the local store ($SMTRAIN_HOME, state.db) is damaged or unusable
    └── FileSystemError          the operating system refused a file operation (see from_os_error)
"""

from __future__ import annotations


class SmtrainError(Exception):
    """An error with a place, a description and a suggestion."""

    exit_code = 1

    def __init__(self, what: str, *, where: str = "", hint: str = "") -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(SmtrainError):
    exit_code = 2


class ArgumentError(UsageError):
    """Bad input to the Python API: ``argument`` names the keyword argument at fault (``source_dir``)."""

    def __init__(self, what: str, *, argument: str = "", where: str = "", hint: str = "") -> None:
        self.argument = argument
        super().__init__(what, where=where, hint=hint)


class NotFoundError(SmtrainError):
    pass


class JobFailedError(SmtrainError):
    pass


class BackendError(SmtrainError):
    pass


class AwsError(BackendError):
    def __init__(self, what: str, *, code: str = "", where: str = "", hint: str = "") -> None:
        self.code = code
        super().__init__(what, where=where, hint=hint)


class EndpointError(SmtrainError):
    pass


class StoreError(SmtrainError):
    pass


class FileSystemError(SmtrainError):
    pass


REBUILD_HINT = "run `smtrain doctor` to check the store, then `smtrain doctor --rebuild` to rebuild its index"

# errno name -> (what went wrong, what to do); {path} is the file the OS named.
_OS_ERRORS = {
    "ENOSPC": ("no space left on the device", "free disk space where {path} lives (`df -h` shows which disk "
               "is full), then run the command again"),
    "EDQUOT": ("disk quota exceeded", "free space in your quota where {path} lives, then run the command again"),
    "EROFS": ("read-only file system", "use a writable location (set SMTRAIN_HOME or pass --home/--out)"),
    "EACCES": ("permission denied", "make {path} writable for your user (chmod u+rwx), or choose another location "
               "(SMTRAIN_HOME, --home, --out)"),
    "EPERM": ("operation not permitted", "check the owner and permissions of {path}, or choose another location"),
    "EEXIST": ("a file is already there", "remove or rename {path}, or choose another path"),
    "ENOTDIR": ("a part of the path is a file, not a folder", "point the setting at a folder (check SMTRAIN_HOME, "
                "--home and --out), or move the file {path} away"),
    "EISDIR": ("is a folder, not a file", "give the path of a file, not of the folder {path}"),
    "ENOENT": ("no such file or folder", "check the path {path}"),
    "ENAMETOOLONG": ("file name too long", "use a shorter path or name than {path}"),
    "EMFILE": ("too many open files", "raise the open-file limit (ulimit -n) and run the command again"),
    "EIO": ("input/output error", "check the disk holding {path} (dmesg), then run the command again"),
}
_NETWORK_ERRORS = {
    "ECONNREFUSED": ("connection refused", "check that the server is running (`smtrain ls` shows endpoints)"),
    "ECONNRESET": ("connection reset by the other side", "run the command again; if it persists, check the server"),
    "ETIMEDOUT": ("the connection timed out", "check the network and the server, then run the command again"),
    "EADDRINUSE": ("the address is already in use", "choose another port, or stop what is listening on it"),
}


def from_os_error(exc: OSError) -> FileSystemError:
    """An ``OSError`` as a message naming the file, what the OS said and what to do."""
    import errno as errno_codes
    import os

    name = errno_codes.errorcode.get(exc.errno or 0, "")
    paths = [str(p) for p in (exc.filename, exc.filename2) if p not in (None, "")]
    reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
    if name in _NETWORK_ERRORS or (not paths and name not in _OS_ERRORS):
        what, hint = _NETWORK_ERRORS.get(name, (reason, "run the command again with --debug to see where"))
        return FileSystemError(f"{what} ({name})" if name else what, hint=hint)
    path = " -> ".join(paths) or "the file being written"
    what, hint = _OS_ERRORS.get(name, (reason, "check the path and its permissions, then run the command again"))
    if name == "EEXIST" and exc.filename and os.path.isfile(exc.filename):
        what = "a file is there where a folder is needed"
    detail = f"{what} ({name})" if name else what
    return FileSystemError(detail, where=path, hint=hint.format(path=path))


def report_error(exc: BaseException, debug: bool) -> int:
    """Say what went wrong on stderr, as every command does (a traceback only with ``debug``); the exit code."""
    import sys

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, OSError):  # the one place OS errors become messages naming the file and the fix
        exc = from_os_error(exc)
    if isinstance(exc, SmtrainError):
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    if not debug:
        print("  hint: run again with --debug for the traceback", file=sys.stderr, flush=True)
    return 1
