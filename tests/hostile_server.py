"""An HTTP server that misbehaves on purpose, for the reference tests: ``python tests/hostile_server.py``.

It listens on 127.0.0.1 (a free port), prints ``port N``, and after each request it has
finished with prints ``sent <path> <bytes of body written>``. Every path answers its first
request honestly (10 bytes, ETag "v1", a Content-Length), as when the reference was added,
and later requests with the same ETag but:

- ``/endless``: no Content-Length, and a body that never ends (stops after 512 MiB, or when
  the client hangs up);
- ``/drip``: the right 10 bytes, one every half second;
- ``/drip-unsized``: no ETag and no length, even the first time: 40 bytes, one every 0.2 s
  (a client must read the whole body to hash it).

The test stops it by its process id.
"""

from __future__ import annotations

import http.server
import sys
import threading
import time
from typing import Any

BODY = b"0123456789"
CAP = 512 << 20
CHUNK = b"x" * (1 << 16)
seen: set[str] = set()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        with lock:
            first = self.path not in seen
            seen.add(self.path)
        sent = 0
        try:
            self.send_response(200)
            if self.path != "/drip-unsized":
                self.send_header("ETag", '"v1"')
            if (first or self.path == "/drip") and self.path != "/drip-unsized":
                self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            if first and self.path != "/drip-unsized":
                self.wfile.write(BODY)
                sent = len(BODY)
            elif self.path == "/endless":
                while sent < CAP:
                    self.wfile.write(CHUNK)
                    sent += len(CHUNK)
            elif self.path == "/drip":
                for byte in BODY:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    sent += 1
                    time.sleep(0.5)
            else:
                while sent < 40:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    sent += 1
                    time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as it should
        print(f"sent {self.path} {sent}", flush=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
    sys.exit(0)
