"""Spreading a pod's keep-alive connections evenly over its gunicorn workers.

Every worker accepts from one shared listening socket, and whichever wakes first takes
what is waiting: a client (the mesh sidecar, a load generator) that opens its few
connections at once often lands them all on one worker. They stay there, since they are
kept alive, while the other worker idles: with `wrk -c8` and 2 workers at 200k items, 8/0
gave 567 requests/s where 4/4 gave 900-1000.

So the master keeps, in memory it shares with its workers, how many connections each
worker holds (`ConnectionTable`), and a worker's listener (`BalancedServer`) leaves a
waiting connection to a worker holding fewer, re-checking every RECHECK_SECONDS. A
connection is never held back longer than MAX_WAIT_SECONDS: a busy or stuck worker that
does not accept must not stall new clients.
"""

import mmap
import time
from typing import Any

from gevent.server import StreamServer

# Worker slots in the table; a worker started when all are taken just does not take part.
SLOTS = 64
RECHECK_SECONDS = 0.002
MAX_WAIT_SECONDS = 0.05
_FREE = -1


class ConnectionTable:
    """Open connections per worker slot, in anonymous memory shared across fork.

    The master claims a slot before it forks a worker and frees it when the worker exits;
    in between only that worker writes its slot.
    """

    def __init__(self, slots: int = SLOTS) -> None:
        self._memory = mmap.mmap(-1, slots * 8)
        self._counts = memoryview(self._memory).cast("q")
        for slot in range(slots):
            self._counts[slot] = _FREE

    def claim(self) -> int | None:
        """A free slot for a worker about to start (in the master), or None if none is."""
        for slot, count in enumerate(self._counts):
            if count == _FREE:
                self._counts[slot] = 0
                return slot
        return None

    def release(self, slot: int | None) -> None:
        """Free an exited worker's slot (in the master)."""
        if slot is not None:
            self._counts[slot] = _FREE

    def opened(self, slot: int) -> None:
        """The worker in `slot` accepted a connection."""
        self._counts[slot] += 1

    def closed(self, slot: int) -> None:
        """One of the connections of the worker in `slot` ended."""
        self._counts[slot] -= 1

    def busier_than_a_peer(self, slot: int) -> bool:
        """Whether another live worker holds fewer connections than the one in `slot`."""
        mine = self._counts[slot]
        return any(0 <= count < mine for other, count in enumerate(self._counts) if other != slot)


# Created in the gunicorn master on import (scoring.gunicorn_conf), inherited by workers.
TABLE = ConnectionTable()


class BalancedServer(StreamServer):
    """gevent's listener for one worker, leaving connections to less busy workers."""

    def __init__(self, *args: Any, table: ConnectionTable, slot: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._table = table
        self._slot = slot
        self._waiting_since: float | None = None

    def _do_read(self) -> None:
        """Accept, unless a peer holds fewer connections and the wait is still short."""
        if self._table.busier_than_a_peer(self._slot):
            now = time.monotonic()
            if self._waiting_since is None:
                self._waiting_since = now
            if now - self._waiting_since < MAX_WAIT_SECONDS:
                # As gevent itself backs off: stop watching the socket, look again soon.
                self.stop_accepting()
                self._timer = self.loop.timer(RECHECK_SECONDS)
                self._timer.start(self._start_accepting_if_started)
                return
        self._waiting_since = None
        super()._do_read()

    def do_handle(self, *args: Any) -> None:
        """Count the accepted connection before its greenlet starts (do_close uncounts it)."""
        self._table.opened(self._slot)
        super().do_handle(*args)

    def do_close(self, *args: Any) -> None:
        """The connection's handler returned (or could not start): it no longer counts."""
        try:
            super().do_close(*args)
        finally:
            self._table.closed(self._slot)
