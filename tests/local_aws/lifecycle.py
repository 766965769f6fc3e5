"""How the test servers (server.py, fault_proxy.py) stop: on SIGTERM or SIGINT, and, if asked,
when their stdin closes, so that a test runner that dies takes them along."""

from __future__ import annotations

import signal
import sys
import threading


def stop_on_signals_and_stdin_eof(server, watch_stdin: bool) -> None:
    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def wait_for_eof():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop()

    if watch_stdin:
        threading.Thread(target=wait_for_eof, daemon=True).start()
