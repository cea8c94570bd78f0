"""Load generator of bench/run.py's serving rows, run as its own process so its GIL is not the server's:
``concurrency`` keep-alive HTTP clients (threads) POST one body to one URL for ``seconds``.

    python bench/loadgen.py URL BODY_FILE CONTENT_TYPE SECONDS CONCURRENCY

Prints {"requests": n, "errors": n, "seconds": s, "p50": s, "p99": s} as one JSON line.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse


def main() -> None:
    url, body_file, content_type, seconds, concurrency = sys.argv[1:6]
    parsed = urlparse(url)
    body = Path(body_file).read_bytes()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + float(seconds)

    def client() -> None:
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        mine = []
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                connection.request("POST", parsed.path, body=body,
                                   headers={"Content-Type": content_type, "Accept": "application/json"})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(type(exc).__name__)
                connection.close()
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
                continue
            if response.status != 200:
                with lock:
                    errors.append(f"HTTP {response.status}")
                continue
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(int(concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies) or [0.0]
    print(json.dumps({"requests": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else "",
                      "seconds": elapsed, "p50": ordered[len(ordered) // 2],
                      "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}))


if __name__ == "__main__":
    main()
