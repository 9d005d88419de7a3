"""A local HTTP server (127.0.0.1, port 0) that serves archives well or badly, for the download tests.

`ArchiveServer.files` maps a URL path to its bytes; `plan[path]` is a list of behaviours, one consumed per
request (the last one repeats): "good" (honours Range with 206), "ignore-range" (200 with the whole body
even when a Range was asked), "junk" (as many random bytes as the file has), "short" (the full
Content-Length announced, half the body sent, connection closed), "503", "404", "stall" (headers and half
the body, then silence longer than the client's timeout), "silent" (no answer at all for that long). `requests` lists (path, Range header) per request.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

STALL_S = 1.0  # longer than the tests' client timeout (0.3 s)


class ArchiveServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.plan: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Range")))
                steps = server.plan.get(self.path, ["good"])
                behaviour = steps.pop(0) if len(steps) > 1 else steps[0]
                body = server.files.get(self.path)
                if body is None or behaviour == "404":
                    self.send_error(404)
                    return
                if behaviour == "silent":  # no answer at all within the client's timeout
                    time.sleep(STALL_S)
                    return
                if behaviour == "503":
                    self.send_error(503, "Service Unavailable")
                    return
                try:
                    self._answer(behaviour, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _answer(self, behaviour: str, body: bytes) -> None:
                start = 0
                wanted = self.headers.get("Range")
                if wanted and behaviour == "good":
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = os.urandom(len(body)) if behaviour == "junk" else body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if behaviour in ("short", "stall"):
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    if behaviour == "stall":
                        time.sleep(STALL_S)
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_tgz(members: dict[str, bytes]) -> bytes:
    """A gzip-compressed tar holding `members` (path inside the archive -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} if directory.exists() else set()
