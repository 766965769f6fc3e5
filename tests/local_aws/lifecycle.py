"""How the test servers (server.py, fault_proxy.py) stop: on SIGTERM or SIGINT, and, if asked,
when their stdin closes, so that a test runner that dies takes them along."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable


def stop_on_signals_and_stdin_eof(on_stop: Callable[[], None], watch_stdin: bool) -> None:
    """Calls ``on_stop`` in the main thread (from a signal handler) on SIGTERM or SIGINT. A
    closed stdin is turned into SIGTERM to this process, so every stop takes the same path."""

    def handler(*_):
        on_stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

    def wait_for_eof():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    if watch_stdin:
        threading.Thread(target=wait_for_eof, daemon=True).start()
