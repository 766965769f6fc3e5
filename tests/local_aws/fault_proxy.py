"""A fault-injecting HTTP proxy for the tools' fault tests.

    python fault_proxy.py UPSTREAM_URL [--every N] [--faults KIND,...] [--slow SECS]

Listens on a free loopback port, prints ``FAULT_PROXY_READY http://127.0.0.1:PORT`` and
forwards every request to UPSTREAM_URL, except that every Nth request (default 2) meets a
fault, the kinds taken in turn from --faults:

    503       answers 503 Service Unavailable without forwarding
    throttle  answers as a throttled AWS does (EC2: 503 RequestLimitExceeded; other services:
              400 Throttling) without forwarding
    reset     closes the connection without answering, without forwarding
    lost      forwards (AWS acts), then closes the connection: the reply is lost
    slow      forwards (AWS acts), then holds the reply for --slow seconds (default 3), longer
              than the client's attempt timeout, then drops it

A request is faulted at most once: its retry goes through, so every call ends in the same
state as without faults. It stops on SIGTERM or when its stdin closes.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lifecycle import stop_on_signals_and_stdin_eof

EC2_THROTTLE = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
)
QUERY_THROTTLE = (
    b'<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>'
    b"<RequestId>fault-proxy</RequestId></ErrorResponse>"
)


class State:
    def __init__(self, every: int, faults: list[str], slow: float):
        self.every = every
        self.faults = faults
        self.slow = slow
        self.count = 0
        self.turn = 0
        self.faulted: set[str] = set()
        self.injected: dict[str, int] = {}
        self.lock = threading.Lock()

    def decide(self, body: bytes) -> str | None:
        """The fault for this request, if any. A request already faulted once (same body: the
        SDK resends the same bytes, or the same ClientToken) goes through."""
        key = hashlib.sha256(body).hexdigest()
        with self.lock:
            self.count += 1
            if key in self.faulted or self.count % self.every:
                return None
            self.faulted.add(key)
            kind = self.faults[self.turn % len(self.faults)]
            self.turn += 1
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


def handler(upstream: urllib.parse.SplitResult, state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            if self.path == "/_fault_proxy/injected":
                with state.lock:
                    body = repr(state.injected).encode()
                self._reply(200, body, {"Content-Type": "text/plain"})
                return
            self._forward(b"")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            kind = state.decide(body)
            if kind == "503":
                self._reply(503, b"Service Unavailable", {"Content-Type": "text/plain"})
            elif kind == "throttle":
                if b"Version=2016-11-15" in body:  # EC2's API version
                    self._reply(503, EC2_THROTTLE, {"Content-Type": "text/xml"})
                else:
                    self._reply(400, QUERY_THROTTLE, {"Content-Type": "text/xml"})
            elif kind == "reset":
                self._drop()
            elif kind == "lost":
                self._upstream(body)
                self._drop()
            elif kind == "slow":
                self._upstream(body)
                time.sleep(state.slow)
                self._drop()
            else:
                self._forward(body)

        def _upstream(self, body: bytes):
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["Host"] = upstream.netloc
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            result = resp.status, data, {k: v for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")}
            conn.close()
            return result

        def _forward(self, body: bytes):
            status, data, headers = self._upstream(body)
            self._reply(status, data, headers)

        def _reply(self, status: int, data: bytes, headers: dict):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _drop(self):
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream")
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--faults", default="503,throttle,reset,lost,slow")
    parser.add_argument("--slow", type=float, default=3.0)
    args = parser.parse_args()
    state = State(args.every, args.faults.split(","), args.slow)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(urllib.parse.urlsplit(args.upstream), state))
    server.daemon_threads = True

    # shutdown() waits for serve_forever() to return, so it cannot run in the main thread.
    stop_on_signals_and_stdin_eof(lambda: threading.Thread(target=server.shutdown, daemon=True).start(), watch_stdin=True)
    print(f"FAULT_PROXY_READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
