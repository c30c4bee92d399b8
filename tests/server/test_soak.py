"""Bounded soak of `smallthinker serve` on loopback (stops by itself in ~70 s): 8 clients for
60 s mix valid requests (streaming and not) with malformed, deeply nested, oversized, chunked
(within and over the limit), slow (header and body dribbled) and disconnecting ones, while a
monitor asks /health every 200 ms. Passes when: the server never dies; no reply is a 5xx (503
only at shutdown); every request gets its expected kind of answer; /health always answers
within 1 s; the resident memory once idle is within 10% of its level after the warm-up; SIGTERM
then ends it with exit status 0. The model is a random-weight tiny one (`synth`), so requests
are quick and the mix, not the model, is what is exercised."""
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_proc import ST_BIN, fail, read_responses, start_server, stop_server, synth_model, vm_kib  # noqa: E402

CLIENTS = 8
SECONDS = float(os.environ.get("ST_SOAK_SECONDS", "60"))
WARMUP = 6.0
MAX_BODY = 64 << 10


class Soak:
    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.counts = {}       # kind -> {status: n}
        self.problems = []
        self.health_worst = 0.0
        self.health_n = 0
        self.stop = threading.Event()

    def record(self, kind, status, ok):
        with self.lock:
            self.counts.setdefault(kind, {}).setdefault(status, 0)
            self.counts[kind][status] += 1
            if not ok and len(self.problems) < 20:
                self.problems.append(f"{kind}: {status}")

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def head(self, method="POST", path="/v1/completions", extra=""):
        return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{extra}".encode()

    def post(self, body, extra=""):
        with self.connect() as s:
            try:
                s.sendall(self.head(extra=f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n") + body)
            except OSError:  # refused before the whole body was sent (413): the reply is waiting
                pass
            got = read_responses(s, 1, 60)
        return got[0] if got else (0, {}, b"")

    # ---- the request kinds: each returns (status, ok) ----

    def valid(self, rng):
        stream = rng.random() < 0.5
        body = json.dumps({"prompt": f"soak {rng.random()}", "max_tokens": rng.randint(2, 24), "temperature": 0.8,
                           "seed": rng.randint(0, 1000), "stream": stream}).encode()
        st, h, b = self.post(body)
        ok = st == 200 and (b.rstrip().endswith(b"data: [DONE]") if stream else "choices" in json.loads(b))
        return st, ok

    def malformed(self, rng):
        body = rng.choice([b'{"prompt": ', b"\xff\xfe", b'{"prompt": 5}', b"[1,2]", b'{"prompt":"x","temperature":"hot"}'])
        st, _, _ = self.post(body)
        return st, st == 400

    def nested(self, rng):
        depth = rng.randint(65, 30000)
        body = ('{"prompt":"x","stop":' + "[" * depth + "]" * depth + "}").encode()
        if len(body) > MAX_BODY:
            depth = (MAX_BODY - 40) // 2
            body = ('{"prompt":"x","stop":' + "[" * depth + "]" * depth + "}").encode()
        st, _, b = self.post(body)
        return st, st == 400 and b"json_too_deep" in b

    def oversized(self, rng):
        body = b'{"prompt":"' + b"a" * (MAX_BODY + rng.randint(1, 1 << 20)) + b'"}'
        st, _, _ = self.post(body)
        return st, st == 413

    def chunked(self, rng):
        over = rng.random() < 0.3
        body = json.dumps({"prompt": "chunked " + "b" * (MAX_BODY if over else 100), "max_tokens": 3}).encode()
        with self.connect() as s:
            s.sendall(self.head(extra="Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"))
            try:
                for i in range(0, len(body), 1000):
                    part = body[i:i + 1000]
                    s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
                s.sendall(b"0\r\n\r\n")
            except OSError:
                pass
            got = read_responses(s, 1, 60)
        st = got[0][0] if got else 0
        return st, st == (413 if over else 200)

    def slow(self, rng):
        body = json.dumps({"prompt": "slow", "max_tokens": 2}).encode()
        data = self.head(extra=f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n") + body
        late = rng.random() < 0.25  # pauses past --read-timeout: a 408
        with self.connect() as s:
            cut = rng.randint(1, len(data) - 1)
            s.sendall(data[:cut])
            time.sleep(2.6 if late else rng.uniform(0.1, 1.2))
            try:
                s.sendall(data[cut:])
            except OSError:
                pass
            got = read_responses(s, 1, 60)
        st = got[0][0] if got else 0
        return st, st == 408 if late else st == 200

    def disconnecting(self, rng):
        body = json.dumps({"prompt": "gone", "max_tokens": 400, "stream": rng.random() < 0.5}).encode()
        s = self.connect()
        data = self.head(extra=f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n") + body
        s.sendall(data[:rng.randint(1, len(data))])
        time.sleep(rng.uniform(0, 0.3))
        s.close()
        return "closed", True

    def client(self, seed):
        rng = random.Random(seed)
        kinds = [("valid", self.valid, 5), ("malformed", self.malformed, 1), ("nested", self.nested, 1),
                 ("oversized", self.oversized, 1), ("chunked", self.chunked, 1), ("slow", self.slow, 1),
                 ("disconnecting", self.disconnecting, 2)]
        weights = [w for _, _, w in kinds]
        while not self.stop.is_set():
            name, fn, _ = rng.choices(kinds, weights)[0]
            try:
                status, ok = fn(rng)
            except Exception as e:  # noqa: BLE001 - a refused connection, a timeout: all are failures
                status, ok = f"{type(e).__name__}: {e}", False
            self.record(name, status, ok)

    def monitor(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                with self.connect() as s:
                    s.sendall(self.head("GET", "/health", "Connection: close\r\n\r\n"))
                    got = read_responses(s, 1, 5)
                ok = bool(got) and got[0][0] == 200
            except OSError:
                ok = False
            took = time.monotonic() - t0
            with self.lock:
                self.health_n += 1
                self.health_worst = max(self.health_worst, took)
                if not ok or took > 1.0:
                    self.problems.append(f"/health: ok={ok} after {took:.2f} s")
            time.sleep(0.2)


def run_phase(soak, seconds, seed):
    soak.stop.clear()
    threads = [threading.Thread(target=soak.client, args=(seed + i,)) for i in range(CLIENTS)]
    threads.append(threading.Thread(target=soak.monitor))
    for t in threads:
        t.start()
    time.sleep(seconds)
    soak.stop.set()
    for t in threads:
        t.join(90)


def wait_idle(port, proc):
    for _ in range(200):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
            got = read_responses(s, 1, 10)
        text = got[0][2].decode()
        if "smallthinker_requests_processing 0" in text and "smallthinker_requests_deferred 0" in text:
            time.sleep(0.5)
            return vm_kib(proc.pid, "VmRSS")
        time.sleep(0.1)
    fail("the server did not become idle")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = synth_model(os.path.join(tmp, "tiny.gguf"))
        proc, _, port = start_server([ST_BIN, "serve", "-m", model, "--port", "0", "-t", "1", "--parallel", "2",
                                      "--read-timeout", "2", "--max-body", str(MAX_BODY), "--max-tokens", "512"])
        try:
            soak = Soak(port)
            run_phase(soak, WARMUP, 1000)
            rss_warm = wait_idle(port, proc)
            soak.problems.clear()
            soak.counts.clear()
            run_phase(soak, SECONDS, 2000)
            if proc.poll() is not None:
                fail(f"the server died: exit {proc.returncode}")
            rss_after = wait_idle(port, proc)
        except BaseException:
            proc.kill()
            raise
        stop_server(proc)
    total = sum(sum(v.values()) for v in soak.counts.values())
    print(f"soak: {total} requests in {SECONDS:.0f} s by {CLIENTS} clients:")
    for kind, by_status in sorted(soak.counts.items()):
        print(f"  {kind:14s} {dict(sorted(by_status.items(), key=str))}")
    print(f"  /health: {soak.health_n} probes, slowest {soak.health_worst * 1000:.0f} ms")
    print(f"  RSS after warm-up {rss_warm >> 10} MiB, after the soak {rss_after >> 10} MiB")
    fivexx = [f"{k}: {s}" for k, v in soak.counts.items() for s in v if isinstance(s, int) and s >= 500]
    if fivexx:
        fail(f"5xx replies: {fivexx}")
    if soak.problems:
        fail("unexpected answers: " + "; ".join(soak.problems))
    if rss_after > rss_warm * 1.10:
        fail(f"RSS grew from {rss_warm} KiB to {rss_after} KiB (> 10%)")
    print("test_soak: all passed")


if __name__ == "__main__":
    main()
