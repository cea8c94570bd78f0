"""smtrain's exceptions.

Every error a user can cause says where it happened, what went wrong and
what to do about it. The CLI prints ``str(error)`` and exits with
``error.exit_code``; it shows a traceback only with ``--debug``.

    SmtrainError                 base; exit code 1
    ├── UsageError               bad input on the command line or in config; exit code 2
    ├── NotFoundError            an unknown job, endpoint, model or file
    ├── JobFailedError           a training job ended Failed or Stopped
    ├── BackendError             the backend (local service or AWS) refused a request
    │   └── AwsError             an AWS call failed; carries the service error code
    └── EndpointError            an endpoint could not start or answer
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
