"""One smtrain sync of a folder to S3, exactly as `smtrain prepare` syncs each split (the backend's
``sync``); used by bench/sync.py as the process a user waits for.

    python bench/sync_once.py DIR s3://BUCKET/PREFIX/

Prints the SyncReport and the seconds spent inside the sync call as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import smtrain


def main() -> None:
    local_dir, uri = Path(sys.argv[1]), sys.argv[2]
    session = smtrain.Session(backend="sagemaker", quiet=True)
    start = time.perf_counter()
    report = session.backend.sync(local_dir, uri, progress=True)  # the bar is off when stderr is not a terminal
    elapsed = time.perf_counter() - start
    print(json.dumps({"uploaded_files": report.uploaded_files, "uploaded_bytes": report.uploaded_bytes,
                      "unchanged_files": report.unchanged_files, "seconds_in_sync": elapsed}))


if __name__ == "__main__":
    main()
