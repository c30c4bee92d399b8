"""A client that hangs up on a non-streaming request stops its generation: with one slot, a
request asking for thousands of tokens is abandoned (closed normally, and reset) a moment
after it starts; the server's own counters must then show the slot free and the request
cancelled, the forward passes must stop, and a next request must be served at once instead of
waiting for the abandoned one's max_tokens. A request waiting in the queue whose client hangs
up leaves the queue. A client that stays still gets a plain JSON reply.

The model is a random-weight `synth --preset tiny`: greedy, it does not pick its end token (it
ran 30000 tokens to max_tokens when checked; were that to change, the cancel counter would stay
put and the test fail, not pass), and ~8000 tokens take it several seconds, far longer than
the 0.3 s before the hang-up. Nano would end by itself within a few dozen tokens."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_proc import fail, start_server, stop_server  # noqa: E402

ST_BIN = os.environ.get("ST_BIN", "build/bin/smallthinker")
SRC = os.environ.get("ST_SOURCE_DIR", ".")
MAX_TOKENS = 8000
CTX = 8192
PROMPT = "hello there"


def start(model):
    p, _, port = start_server([ST_BIN, "serve", "-m", model, "--port", "0", "-t", "2", "--parallel", "1", "-c", str(CTX),
                               "--max-tokens", str(MAX_TOKENS)])
    return p, port


def http(port, method, path, body=None, timeout=60):
    """One request on its own connection; returns (status, headers dict (lower-case), body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request_bytes(method, path, body))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, payload


def request_bytes(method, path, body=None):
    raw = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
    return head.encode() + b"\r\n" + raw


def metrics(port):
    status, _, body = http(port, "GET", "/metrics")
    if status != 200:
        fail(f"/metrics: {status}")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("smallthinker_"):
            name, value = line.split()
            out[name[len("smallthinker_"):]] = float(value)
    return out


def wait_for(port, what, predicate, seconds):
    """Polls /metrics every 50 ms until predicate(metrics) holds; returns (metrics, seconds taken)."""
    t0 = time.monotonic()
    while True:
        m = metrics(port)
        if predicate(m):
            return m, time.monotonic() - t0
        if time.monotonic() - t0 > seconds:
            fail(f"{what} not within {seconds} s: {m}")
        time.sleep(0.05)


def send_long_request(port, stream=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(request_bytes("POST", "/v1/completions",
                            {"prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0, "stream": stream}))
    return s


def idle(port):
    """The counters once no request runs or waits (a reply can reach its client a moment before
    the engine thread has counted the request's end)."""
    return wait_for(port, "the server idle", lambda m: m["requests_processing"] == 0 and m["requests_deferred"] == 0, 10)[0]


def abandon(port, reset):
    """Starts a long non-streaming request, hangs up 0.3 s into its generation, and checks that
    the server notices, frees the slot and stops generating."""
    start = idle(port)
    with send_long_request(port) as s:
        busy, _ = wait_for(port, "the long request taking the slot",
                           lambda m: m["requests_total"] == start["requests_total"] + 1, 30)
        time.sleep(0.3)
        if reset:  # RST instead of FIN: SO_LINGER with a zero timeout
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    t_close = time.monotonic()
    freed, _ = wait_for(port, "the slot freed after the client left",
                        lambda m: m["requests_processing"] == 0
                        and m["requests_cancelled_total"] == start["requests_cancelled_total"] + 1, 5)
    took = time.monotonic() - t_close
    steps = freed["batch_steps_total"] - busy["batch_steps_total"]
    generated = freed["tokens_predicted_total"] - start["tokens_predicted_total"]
    # Cancelled (the counter above), and early: far fewer tokens than it asked for.
    if steps >= MAX_TOKENS / 2 or generated >= MAX_TOKENS / 2:
        fail(f"{generated:.0f} tokens in {steps:.0f} forward passes before the slot was freed; max_tokens is {MAX_TOKENS}")
    time.sleep(1.0)
    later = metrics(port)
    for counter in ("batch_steps_total", "tokens_predicted_total", "requests_total"):
        if later[counter] != freed[counter]:
            fail(f"{counter} still grows after the cancel: {freed[counter]} -> {later[counter]}")
    kind = "reset" if reset else "closed"
    print(f"{kind}: slot free {took:.2f} s after the hang-up, {generated:.0f} of {MAX_TOKENS} tokens generated")
    # With one slot, the next request is served now, not after the abandoned one's max_tokens.
    t0 = time.monotonic()
    status, headers, body = http(port, "POST", "/v1/completions",
                                 {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}, timeout=30)
    if status != 200 or json.loads(body)["usage"]["completion_tokens"] > 8:
        fail(f"request after the hang-up: {status} {body[:300]!r}")
    print(f"{kind}: next request served in {time.monotonic() - t0:.2f} s")


def abandon_queued(port, stream):
    """A request waiting for the one slot whose client hangs up leaves the queue at once (it would
    otherwise hold a queue place, and later take the slot), while the running one goes on; the
    same for a waiting stream, which has sent its headers but no event yet."""
    start = idle(port)
    with send_long_request(port):
        wait_for(port, "the first request taking the slot", lambda m: m["requests_total"] == start["requests_total"] + 1, 30)
        with send_long_request(port, stream):
            wait_for(port, "the second request queued", lambda m: m["requests_deferred"] == 1, 30)
        t_close = time.monotonic()
        after, _ = wait_for(port, "the queued request dropped after its client left",
                            lambda m: m["requests_deferred"] == 0
                            and m["requests_cancelled_total"] == start["requests_cancelled_total"] + 1, 5)
        took = time.monotonic() - t_close
        if after["requests_processing"] != 1 or after["requests_total"] != start["requests_total"] + 1:
            fail(f"the queued request took the slot, or the running one stopped: {start} -> {after}")
        print(f"queued {'stream' if stream else 'request'}: dropped {took:.2f} s after the hang-up while the running request goes on")
    wait_for(port, "the slot freed after the running client left",
             lambda m: m["requests_processing"] == 0
             and m["requests_cancelled_total"] == start["requests_cancelled_total"] + 2, 5)


def shutdown_while_busy(model):
    """SIGTERM while a client waits on a long non-streaming request: the request ends with a 503
    error object and the server exits promptly, instead of generating to max_tokens first."""
    proc, port = start(model)
    try:
        start_m = idle(port)
        s = send_long_request(port)
        wait_for(port, "the long request taking the slot", lambda m: m["requests_total"] == start_m["requests_total"] + 1, 30)
        time.sleep(0.2)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        data = b""
        s.settimeout(10)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        rc = proc.wait(timeout=10)
        took = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("server did not stop on SIGTERM while a request was running")
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    if status != 503 or "shutting down" not in json.loads(body)["error"]["message"]:
        fail(f"running request at shutdown: {status} {body[:300]!r}")
    if rc != 0 or took > 5:
        fail(f"server exit {rc} after {took:.1f} s")
    print(f"shutdown: the running request got 503, the server exited {took:.2f} s after SIGTERM")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "tiny.gguf")
        subprocess.run([ST_BIN, "synth", "-o", model, "--preset", "tiny", "--ctx", str(CTX)], check=True,
                       capture_output=True)
        run(model)
        shutdown_while_busy(model)
    print("test_disconnect: all passed")


def run(model):
    proc, port = start(model)
    try:
        # A client that stays gets the reply as before: one JSON body with a Content-Length.
        status, headers, body = http(port, "POST", "/v1/completions",
                                     {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0})
        if status != 200 or headers.get("content-type") != "application/json":
            fail(f"plain reply: {status} {headers}")
        if "transfer-encoding" in headers or int(headers.get("content-length", -1)) != len(body):
            fail(f"plain reply is not one body with its length: {headers}")
        reply = json.loads(body)
        if reply["object"] != "text_completion" or reply["usage"]["completion_tokens"] < 1:
            fail(f"plain reply: {reply}")

        abandon(port, reset=False)
        abandon(port, reset=True)
        abandon_queued(port, stream=False)
        abandon_queued(port, stream=True)
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
