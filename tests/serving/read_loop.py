"""A paced reader in a process of its own (so its timings do not wait on the test's GIL): GET each user's
recommendations round-robin over one keep-alive connection, one JSON line per response.

    python -m tests.serving.read_loop PORT SECONDS RATE OUT USER [USER ...]
"""

from __future__ import annotations

import http.client
import json
import sys
import time


def main(port: int, seconds: float, rate: float, out: str, users: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    deadline = time.monotonic() + seconds
    with open(out, "w") as sink:
        n = 0
        while time.monotonic() < deadline:
            user = users[n % len(users)]
            began = time.perf_counter()
            connection.request("GET", f"/v1/users/{user}/recommendations?k=50")
            response = connection.getresponse()
            raw = response.read()
            elapsed_ms = (time.perf_counter() - began) * 1000
            body = json.loads(raw) if response.status == 200 else {}
            sink.write(json.dumps({"user": user, "status": response.status, "ms": elapsed_ms,
                                   "version": body.get("version"), "variant": body.get("variant"),
                                   "degraded": body.get("degraded"), "fallback": body.get("fallback"),
                                   "movie_ids": [i["movie_id"] for i in body.get("items", [])]}) + "\n")
            n += 1
            time.sleep(max(0.0, 1 / rate - (time.perf_counter() - began)))


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], [int(u) for u in sys.argv[5:]])
