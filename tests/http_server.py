"""A loopback HTTP server for remote-input tests: serves one folder with byte ranges, counts
the bytes it sends, and stops when its context ends (or after ``lifetime_s``)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Served:
    """What the server sent: ``url`` of the folder, body ``bytes`` and ``requests``."""

    url: str
    bytes: int = 0
    requests: int = 0
    ranges: list[tuple[int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(folder: Path, served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _file(self) -> Path | None:
            path = (folder / self.path.lstrip("/").split("?")[0]).resolve()
            inside = path.is_relative_to(folder.resolve())
            return path if inside and path.is_file() else None

        def do_HEAD(self) -> None:
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

        def do_GET(self) -> None:
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            size = path.stat().st_size
            match = _RANGE.match(self.headers.get("Range", ""))
            start, stop = 0, size - 1
            if match:
                start = int(match.group(1))
                stop = min(size - 1, int(match.group(2))) if match.group(2) else size - 1
            with path.open("rb") as f:
                f.seek(start)
                body = f.read(stop - start + 1)
            self.send_response(206 if match else 200)
            if match:
                self.send_header("Content-Range", f"bytes {start}-{stop}/{size}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self.wfile.write(body)
            with served.lock:
                served.bytes += len(body)
                served.requests += 1
                served.ranges.append((start, stop))

    return Handler


@contextmanager
def serve(folder: Path, lifetime_s: float = 300.0) -> Iterator[Served]:
    """Serve ``folder`` on 127.0.0.1 (a free port) while the context lasts."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(folder, Served("")))
    served = Served(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(folder, served)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    timer = threading.Timer(lifetime_s, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield served
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
