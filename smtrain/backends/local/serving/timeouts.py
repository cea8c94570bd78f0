"""How long a model server's workers get to finish, shared by the container and its buffering worker."""

GRACEFUL_TIMEOUT = 10  # seconds a stopping worker has to finish its requests (gunicorn's graceful_timeout)
STOP_GRACE = GRACEFUL_TIMEOUT + 5.0  # then the whole server is stopped
