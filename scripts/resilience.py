"""Attacks a running `serve` the way a hostile or broken client would, one attack at a time,
while a prober asks for /health every 20 ms. Fails unless /health answers within 50 ms at the
99th percentile during and after every attack, the server's resident memory stays under a
bound, and each attack is answered as designed (408, 413, 422, 503, closed connections, a
bounded metric set). Standard library only; everything stays on 127.0.0.1.

usage: python3 scripts/resilience.py http://127.0.0.1:PORT SERVER_PID [RSS_LIMIT_MB]
"""

import http.client
import json
import random
import socket
import statistics
import sys
import threading
import time
import urllib.parse

BASE = sys.argv[1]
PID = int(sys.argv[2])
RSS_LIMIT_MB = float(sys.argv[3]) if len(sys.argv) > 3 else 256.0
HOST, PORT = urllib.parse.urlsplit(BASE).hostname, urllib.parse.urlsplit(BASE).port
P99_LIMIT_MS = 50.0
PATIENT = {"PRG": 6, "PL": 148, "PR": 72, "SK": 35, "TS": 0, "M11": 33.6, "BD2": 0.627, "Age": 50, "Insurance": 0}

failures = []


def rss_mb():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def request(method, path, body=None, headers=None, timeout=30):
    connection = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_json(path, text):
    return request("POST", path, text.encode() if isinstance(text, str) else text,
                   {"Content-Type": "application/json"})


def metric_series():
    _, _, body = request("GET", "/metrics")
    return [line for line in body.decode().splitlines() if line and not line.startswith("#")]


class Prober:
    """Asks /health every 20 ms on a fresh connection, recording latencies and peak RSS."""

    def __init__(self):
        self.latencies, self.errors, self.peak_rss = [], 0, 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                status, _, _ = request("GET", "/health", timeout=5)
                if status != 200:
                    self.errors += 1
            except OSError:
                self.errors += 1
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.peak_rss = max(self.peak_rss, rss_mb())
            self.stop.wait(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()


def p99(values):
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def attack(name, body):
    """Runs one attack under the prober, then probes for two quiet seconds after it."""
    with Prober() as during:
        outcome = body()
    with Prober() as after:
        time.sleep(2)
    line = (f"{name}: {outcome}; /health p99 during {p99(during.latencies):.1f} ms "
            f"({len(during.latencies)} probes, {during.errors} failed), after {p99(after.latencies):.1f} ms; "
            f"peak RSS {max(during.peak_rss, after.peak_rss):.1f} MB")
    print(line, flush=True)
    for probe, when in ((during, "during"), (after, "after")):
        if probe.errors or p99(probe.latencies) > P99_LIMIT_MS:
            failures.append(f"{name}: /health p99 {when} {p99(probe.latencies):.1f} ms, {probe.errors} failed")
        if probe.peak_rss > RSS_LIMIT_MB:
            failures.append(f"{name}: RSS {probe.peak_rss:.1f} MB over {RSS_LIMIT_MB} MB")


def expect(condition, message):
    if not condition:
        failures.append(message)


def method_flood():
    before = len(metric_series())
    rng = random.Random(1)
    statuses = {}
    for idx in range(2000):
        method = "M" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(1, 8192)))
        with socket.create_connection((HOST, PORT), timeout=10) as connection:
            connection.sendall(f"{method} /predict/{idx} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            head = connection.recv(64).split(b" ")
            status = head[1].decode() if len(head) > 1 else "closed"
            statuses[status] = statuses.get(status, 0) + 1
    # A few series appear the first time an `other` method or a new status is counted.
    grown = len(metric_series()) - before
    expect(grown <= 10, f"method flood: {grown} new metric series")
    return f"2000 made-up methods up to 8 KiB answered {statuses}, {grown} new metric series"


def slow_bodies():
    sockets = []
    for _ in range(400):
        connection = socket.create_connection((HOST, PORT), timeout=30)
        connection.sendall(f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: 4194304\r\n\r\n{{".encode())
        sockets.append(connection)
    started = time.time()
    answered = closed = 0
    for connection in sockets:
        try:
            data = connection.recv(4096)
            answered += data.startswith(b"HTTP/1.1 408")
            while data:
                data = connection.recv(4096)
            closed += 1
        except OSError:
            pass
        connection.close()
    waited = time.time() - started
    expect(answered == len(sockets), f"slow bodies: only {answered} of {len(sockets)} got 408")
    expect(closed == len(sockets), f"slow bodies: only {closed} of {len(sockets)} connections closed")
    return f"{len(sockets)} bodies declared 4 MiB and stalled: {answered} got 408, {closed} closed, within {waited:.1f} s"


def slow_heads():
    sockets = []
    for _ in range(400):
        connection = socket.create_connection((HOST, PORT), timeout=30)
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: ")
        sockets.append(connection)
    started = time.time()
    closed = 0
    for connection in sockets:
        try:
            while connection.recv(4096):
                pass
            closed += 1
        except OSError:
            pass
        connection.close()
    waited = time.time() - started
    expect(closed == len(sockets), f"slow heads: only {closed} of {len(sockets)} connections closed")
    return f"{len(sockets)} unfinished heads: {closed} closed by the server within {waited:.1f} s"


# Bodies are built before any attack: building a 4 MiB string holds Python's lock for tens of
# milliseconds, which the prober thread would count as the server's latency.
EMPTY_OBJECTS = "[" + ",".join(["{}"] * 10000) + "]"
ZEROS = "[" + ",".join(["0"] * (2 * 1024 * 1024 - 1)) + "]"
BIG_BATCH = json.dumps([PATIENT] * 10000)


def amplification():
    text = EMPTY_OBJECTS
    status, _, body = post_json("/predict/batch", text)
    expect(status == 422 and len(body) < 20000, f"amplification: {status}, {len(body)} bytes")
    zeros = ZEROS
    started = time.perf_counter()
    zero_status, _, zero_body = post_json("/predict/batch", zeros)
    took = (time.perf_counter() - started) * 1000
    expect(zero_status == 422 and b"too_long" in zero_body, f"array of zeros: {zero_status}")
    return (f"{len(text)} B of empty objects -> {status} of {len(body)} B; "
            f"{len(zeros)} B array of zeros -> {zero_status} in {took:.0f} ms")


def big_batches():
    batch = BIG_BATCH
    statuses, lock, stop = {}, threading.Lock(), time.time() + 10

    def client():
        while time.time() < stop:
            try:
                status, _, _ = post_json("/predict/batch", batch)
            except OSError:
                status = "error"
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expect(set(statuses) <= {200, 503} and statuses.get(200, 0) > 0, f"big batches: {statuses}")
    return f"12 clients posting 10,000-record batches for 10 s: {statuses}"


def oversized():
    status, _, _ = post_json("/predict", b"{" + b" " * (5 * 1024 * 1024) + b"}")
    expect(status == 413, f"oversized body: {status}")
    return f"5 MiB body -> {status}"


attack("method flood", method_flood)
attack("slow bodies", slow_bodies)
attack("slow heads", slow_heads)
attack("amplification", amplification)
attack("oversized body", oversized)
attack("big batches", big_batches)
status, _, _ = post_json("/predict", json.dumps(PATIENT))
expect(status == 200, f"after the attacks /predict answered {status}")
print(f"after the attacks: /predict {status}, RSS {rss_mb():.1f} MB")
if failures:
    print("resilience: FAILED", *failures, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print("resilience: ok")
