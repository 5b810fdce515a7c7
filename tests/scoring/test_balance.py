"""Keep-alive connections spread evenly over a pod's workers (scoring.balance)."""

import contextlib
import os
import re
import signal
import socket
import time
from pathlib import Path

from scoring.balance import MAX_WAIT_SECONDS, ConnectionTable


def test_a_worker_holding_more_connections_than_a_live_peer_leaves_the_next_one():
    table = ConnectionTable(slots=3)
    first, second = table.claim(), table.claim()
    assert (first, second) == (0, 1)
    table.opened(first)
    assert table.busier_than_a_peer(first) and not table.busier_than_a_peer(second)
    table.opened(second)
    assert not table.busier_than_a_peer(first) and not table.busier_than_a_peer(second)
    table.closed(second)
    table.release(second)
    # A worker that exited is no peer: the one left takes every connection.
    assert not table.busier_than_a_peer(first)
    assert table.claim() == 1


def test_slots_run_out_and_a_worker_without_one_takes_no_part():
    table = ConnectionTable(slots=2)
    assert [table.claim(), table.claim(), table.claim()] == [0, 1, None]
    table.release(None)
    assert table.claim() is None


def test_workers_see_each_others_counts_across_fork():
    table = ConnectionTable(slots=2)
    parent, child = table.claim(), table.claim()
    pid = os.fork()
    if pid == 0:  # the child: count two connections, then leave without cleanup
        table.opened(child)
        table.opened(child)
        os._exit(0)
    os.waitpid(pid, 0)
    assert table.busier_than_a_peer(child) and not table.busier_than_a_peer(parent)


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _connections_per_worker(master: int, port: int, *, closing: bool = False) -> list[int]:
    """Connections on `port` each worker holds open, from /proc: established ones, or with
    `closing` also those the client closed and the worker has not closed yet."""
    states = {"01", "08"} if closing else {"01"}  # ESTABLISHED, CLOSE_WAIT
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] in states and int(fields[1].split(":")[1], 16) == port:
            established.add(fields[9])
    counts = []
    for pid in sorted(_worker_pids(master)):
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if match := re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}")):
                    inodes.add(match.group(1))
        counts.append(len(inodes & established))
    return counts


def test_eight_keep_alive_connections_land_four_on_each_of_two_workers(model_uri, start_server):
    server = start_server(model_uri, WORKERS="2")
    server.wait_for_every_worker("/readyz", 200)
    request = f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    for _ in range(2):
        _wait_for_no_connections(server)
        connections = []
        try:
            for _ in range(8):
                connections.append(_answered(server.port, request))
            assert _connections_per_worker(server.process.pid, server.port) == [4, 4]
        finally:
            for connection in connections:
                connection.close()


def _answered(port: int, request: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(request)
    assert connection.recv(4096).startswith(b"HTTP/1.1 200")
    return connection


def test_a_busier_worker_leaves_a_new_connection_to_its_peer_for_a_while(model_uri, start_server):
    """With its peer frozen, a worker already holding a connection waits MAX_WAIT_SECONDS
    for the peer to take the next one, then takes it itself: never refused, never stalled."""
    server = start_server(model_uri, WORKERS="2")
    server.wait_for_every_worker("/readyz", 200)
    _wait_for_no_connections(server)
    request = f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    frozen = max(_worker_pids(server.process.pid))
    os.kill(frozen, signal.SIGSTOP)
    try:
        first = _answered(server.port, request)  # the running worker: both held none
        started = time.monotonic()
        second = _answered(server.port, request)
        waited = time.monotonic() - started
        first.close()
        second.close()
    finally:
        os.kill(frozen, signal.SIGCONT)
    assert MAX_WAIT_SECONDS <= waited < 5


def _wait_for_no_connections(server, timeout: float = 10) -> None:
    """Until the workers have closed every earlier connection (so their counts dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = _connections_per_worker(server.process.pid, server.port, closing=True)
        if counts == [0, 0]:
            return
        assert time.monotonic() < deadline, f"connections still open per worker: {counts}"
        time.sleep(0.05)
