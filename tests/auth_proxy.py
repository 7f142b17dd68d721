"""A tiny HTTP proxy on loopback that wants credentials, for tests: it answers ``407``
without the right ``Proxy-Authorization``, tunnels ``CONNECT`` to loopback ports, answers
plain ``GET http://any.host/path`` itself with a page naming what it served (so a site
that does not exist resolves through it alone), and records every request it saw."""

from __future__ import annotations

import base64
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["AuthProxy", "Seen", "auth_proxy"]


@dataclass
class Seen:
    method: str
    target: str
    authorized: bool


@dataclass
class AuthProxy:
    port: int
    username: str
    password: str
    seen: list[Seen] = field(default_factory=list)

    def requests(self, authorized: bool = True) -> list[str]:
        return [f"{s.method} {s.target}" for s in list(self.seen) if s.authorized == authorized]


def _relay(a: socket.socket, b: socket.socket) -> None:
    try:
        while chunk := a.recv(65536):
            b.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@contextmanager
def auth_proxy(username: str = "proxyuser", password: str = "pr0xy-pass") -> Iterator[AuthProxy]:
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    state = AuthProxy(0, username, password)

    class Handler(socketserver.StreamRequestHandler):
        rbufsize = 0  # unbuffered: nothing of a tunnel's bytes is read ahead of the relay

        def handle(self) -> None:
            while True:
                line = self.rfile.readline(65536).decode("latin-1").strip()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (h := self.rfile.readline(65536).decode("latin-1").strip()):
                    name, _, value = h.partition(":")
                    headers[name.strip().lower()] = value.strip()
                method, target, _ = line.split(" ", 2)
                ok = headers.get("proxy-authorization") == expected
                state.seen.append(Seen(method, target, ok))
                if not ok:
                    self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                     b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                                     b"Content-Length: 0\r\n\r\n")
                    continue
                length = int(headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    try:
                        upstream = socket.create_connection((host.strip("[]"), int(port)), 5)
                    except OSError:
                        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                        return
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                    back = threading.Thread(target=_relay, args=(upstream, self.connection),
                                            daemon=True)
                    back.start()
                    _relay(self.connection, upstream)
                    back.join(5)
                    return
                body = (f"<!doctype html><title>via proxy</title>"
                        f"<p id=served>served by the test proxy: {target}</p>").encode()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                                 + body)
                self.wfile.flush()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
