"""The scoring server's gunicorn worker: gevent's event loop, with threads left native.

Why an event loop: connections must stay alive (the mesh sidecar reuses them), which rules
out sync workers; gthread keeps them alive by handing every request from its poller thread
to a pool thread and back, two thread wake-ups per request that cost about a fifth of the
CPU a recommendation takes. A gevent worker reads, answers and waits for the next request
on one greenlet per connection. `bench/peers.py` prints both side by side.

Why threads stay native: when the model is not preloaded, a background thread loads it
while the worker answers /healthz (`scoring.state`). As a greenlet its file reads and
digest checks would hold the event loop, and gunicorn's heartbeat with it, for the whole
load. Only sockets, DNS, `select`, `time.sleep` and the like are patched; the request path
takes no lock across a switch (metrics and logging hold theirs for a write).

Why each request ends with a yield: a greenlet only gives the loop up when a read would
block, and a busy client's next request is often already there when the answer has gone
out, so one connection could hold its worker while the others' requests wait (a p99 of a
second where the median is half a millisecond). After every answer the greenlet waits
until the loop has nothing else to run (`gevent.idle`), so every ready connection gets its
turn; `gevent.sleep(0)` is not enough, as the loop runs a batch of callbacks before it looks
at the sockets again (a p99 of 300 ms at 200k items, against 30 ms).

Why its listener is gevent's StreamServer with a balance: see `scoring.balance`.
"""

import functools

import gevent
from gevent import monkey, socket
from gunicorn.workers import ggevent
from gunicorn.workers.ggevent import GeventWorker

from scoring import balance


class ScoringWorker(GeventWorker):
    """gunicorn's gevent worker, patching everything but threads."""

    def patch(self) -> None:
        """Patch the standard library for gevent (threads excepted) and wrap the listeners."""
        monkey.patch_all(thread=False)
        # As gunicorn's worker does: the listening sockets become gevent sockets.
        self.sockets = [
            socket.socket(listener.FAMILY, socket.SOCK_STREAM, fileno=listener.sock.detach())
            for listener in self.sockets
        ]

    def run(self) -> None:
        """Serve as gunicorn's gevent worker does, with a listener that balances connections.

        gunicorn builds its listeners inside `run` from the module's `StreamServer`, so that
        name is rebound in this worker process only. The slot comes from the master's
        `pre_fork` (scoring.gunicorn_conf); without one the worker takes no part.
        """
        slot = getattr(self, "connection_slot", None)
        if slot is not None:
            ggevent.StreamServer = functools.partial(  # type: ignore[misc]
                balance.BalancedServer, table=balance.TABLE, slot=slot
            )
        super().run()

    def handle_request(
        self, listener_name: object, req: object, sock: object, addr: object
    ) -> None:
        """Answer one request, then let the worker's other ready connections have theirs."""
        super().handle_request(listener_name, req, sock, addr)
        gevent.idle()
