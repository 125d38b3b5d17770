"""Hot reload under load: clients post one fixed patient to /predict on keep-alive connections
while the registry's `production` alias moves five times between versions 1 and 2, then is
forced onto the damaged version 3. Afterwards SIGHUP reloads the server twice (once onto the
still-damaged version, once after a rollback).

Fails unless: no request failed; every answer named version 1 or 2 (never 3); each version
always gave the same probability for the same patient (so each answer came wholly from the
model it names); the server switched after every move; `/ready` reported the failed reload
of version 3 while version 2 kept serving; and SIGHUP reloads were reported as such.

usage: reload-under-load.py BASE_URL TRAIN_BINARY REGISTRY SERVER_PID SECONDS CLIENTS
"""

import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

base, train, registry, server_pid, seconds, clients = sys.argv[1:7]
seconds, clients, server_pid = float(seconds), int(clients), int(server_pid)
address = urllib.parse.urlparse(base)
patient = json.dumps({"PRG": 6, "PL": 148, "PR": 72, "SK": 35, "TS": 0, "M11": 33.6,
                      "BD2": 0.627, "Age": 50, "Insurance": 1})

answers = collections.Counter()  # (model_version, probability) -> count
failures = collections.Counter()  # description -> count
timeline = []  # (time, model_version), sampled
lock = threading.Lock()
stop = threading.Event()


def client(index):
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    while not stop.is_set():
        try:
            connection.request("POST", "/predict", patient, {"Content-Type": "application/json"})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            with lock:
                failures[f"connection: {type(error).__name__}"] += 1
            connection.close()
            connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
            continue
        if response.status != 200:
            with lock:
                failures[f"status {response.status}: {body[:200]!r}"] += 1
            continue
        answer = json.loads(body)
        key = (answer["model_version"], round(answer["probability"], 12))
        with lock:
            answers[key] += 1
            if index == 0:
                timeline.append((time.monotonic(), answer["model_version"]))


def get(path):
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def train_cli(*args):
    subprocess.run([train, *args, "--registry", registry], check=True, stdout=subprocess.DEVNULL)


def serving_version():
    return get("/ready")[1]["model_version"].split("-", 1)[0]


def wait_for(predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    sys.exit(f"reload-under-load: {what} did not happen within {timeout} s")


threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
started = time.monotonic()
for thread in threads:
    thread.start()

# Five moves of `production` (1 -> 2 -> 1 -> 2 -> 1 -> 2), spread over the run, each followed
# by the server within its poll interval; the gate margin is wide: this checks reloading.
moves = [2, 1, 2, 1, 2]
pause = seconds * 0.7 / (len(moves) + 1)
for version in moves:
    time.sleep(pause)
    train_cli("promote", str(version), "--margin", "1")
    wait_for(lambda: serving_version() == f"v{version}", f"serving v{version} after the move")
    print(f"reload-under-load: production -> v{version} at {time.monotonic() - started:5.1f} s, served")

# The damaged version, forced past the checksum check: the server must keep serving v2.
time.sleep(pause)
train_cli("promote", "3", "--force")
wait_for(lambda: get("/ready")[1].get("last_reload", {}).get("target_registry_version") == 3,
         "the attempt to load v3")
status, ready = get("/ready")
reload = ready["last_reload"]
if status != 200 or reload["succeeded"] or serving_version() != "v2":
    sys.exit(f"reload-under-load: after promoting the damaged v3: {status} {ready}")
print(f"reload-under-load: production -> v3 (damaged): refused, v2 keeps serving; "
      f"/ready says: {reload['error'][:110]}...")

remaining = seconds - (time.monotonic() - started)
time.sleep(max(remaining, 0))
stop.set()
for thread in threads:
    thread.join()
elapsed = time.monotonic() - started

# SIGHUP: reloads what the alias names now (still the damaged v3: fails, reported as the
# signal's), then after a rollback to v2 succeeds.
os.kill(server_pid, signal.SIGHUP)
wait_for(lambda: get("/ready")[1]["last_reload"]["trigger"] == "signal", "the SIGHUP reload")
if get("/ready")[1]["last_reload"]["succeeded"]:
    sys.exit("reload-under-load: SIGHUP loaded the damaged version")
train_cli("rollback")
os.kill(server_pid, signal.SIGHUP)
wait_for(lambda: get("/ready")[1]["last_reload"]["succeeded"], "the SIGHUP reload after rollback")
print(f"reload-under-load: SIGHUP reloads: damaged v3 refused; after rollback "
      f"{get('/ready')[1]['model_version']} loaded")

total = sum(answers.values())
versions = collections.defaultdict(set)
for (model_version, probability), count in answers.items():
    versions[model_version].add(probability)
prefixes = sorted({version.split("-", 1)[0] for version in versions})
print(f"reload-under-load: {total} answers in {elapsed:.1f} s from {clients} clients "
      f"({total / elapsed:.0f}/s), {sum(failures.values())} failed; versions answering: "
      + ", ".join(f"{version} ({sum(c for (v, _), c in answers.items() if v == version)})"
                  for version in sorted(versions)))
problems = []
if failures:
    problems.append(f"failed requests: {dict(failures)}")
if prefixes != ["v1", "v2"]:
    problems.append(f"versions answering were {prefixes}, expected v1 and v2 only")
for version, probabilities in versions.items():
    if len(probabilities) != 1:
        problems.append(f"{version} gave {len(probabilities)} different probabilities")
switches = sum(1 for previous, current in zip(timeline, timeline[1:]) if previous[1] != current[1])
if switches < len(moves):
    problems.append(f"client 0 saw {switches} switches of version, expected at least {len(moves)}")
if problems:
    sys.exit("reload-under-load: " + "; ".join(problems))
print(f"reload-under-load: ok (client 0 saw {switches} switches)")
