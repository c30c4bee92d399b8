"""Regression tests of the server's hardening (issue 18, items 1-7), each against the real
`smallthinker serve` on loopback with a random-weight tiny model:
 1. JSON nested 100,000 deep in response_format's schema, or 250,000 deep in stop (bodies under
    --max-body), is a 400 naming the depth limit, not a crash;
 2. web pages cannot reach the server: a text/plain POST is a 415, a foreign Origin a 403, a
    foreign Host (DNS rebinding) a 403; local pages, --allowed-host, --cors-origin and CORS
    preflights work; clients without an Origin are unaffected; the chat page is served;
 3. a 160 MiB chunked body is refused with 413 once past --max-body, while it is being sent,
    and the server's peak memory does not grow by the body;
 4. slow and idle connections cost no worker: /health answers within 1 s while 22 connections
    dribble header bytes and 50 sit idle; the dribblers get 408 at the header deadline; the
    listen backlog is the system's; at --max-connections idle connections give way, and
    beyond it a 503 names the limit;
 5. a second server on a used port, and --port 70000, are refused with clear errors;
 6. three pipelined requests get three responses, in order;
 7. the Bearer scheme is case-insensitive."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_proc import ST_BIN, fail, read_responses, start_server, stop_server, synth_model, vm_kib  # noqa: E402

READ_TIMEOUT = 3  # --read-timeout of the main server (seconds)


def raw(port, data, count=1, timeout=30):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_responses(s, count, timeout)


def request(port, method, path, body=None, headers=None, host=None):
    """One request (Connection: close); returns (status, headers, body bytes)."""
    h = {"Host": host or f"127.0.0.1:{port}", "Connection": "close"}
    payload = b""
    if body is not None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(payload))
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None) + "\r\n"
    got = raw(port, head.encode() + payload)
    if not got:
        fail(f"{method} {path}: no response")
    return got[0]


def error_of(body):
    return json.loads(body)["error"]


def expect_error(what, got, status, code=None, words=()):
    st, _, body = got
    if st != status:
        fail(f"{what}: expected {status}, got {st}: {body[:300]!r}")
    e = error_of(body)
    if code and e.get("code") != code:
        fail(f"{what}: expected code {code}: {e}")
    for w in words:
        if w not in e["message"]:
            fail(f"{what}: the message does not name {w!r}: {e['message']}")


def health_within(port, seconds):
    t0 = time.monotonic()
    st, _, _ = request(port, "GET", "/health")
    took = time.monotonic() - t0
    if st != 200 or took > seconds:
        fail(f"/health: {st} after {took:.2f} s (limit {seconds} s)")
    return took


def deep_nesting(port):
    schema_body = ('{"prompt":"x","response_format":{"type":"json_schema","json_schema":{"name":"a","schema":'
                   '{"type":"object","properties":{},"x":' + "[" * 100000 + "]" * 100000 + "}}}}").encode()
    stop_body = ('{"prompt":"x","stop":' + "[" * 250000 + "]" * 250000 + "}").encode()
    for what, body in (("schema 100,000 deep", schema_body), ("stop 250,000 deep", stop_body)):
        expect_error(what, request(port, "POST", "/v1/completions", body), 400, "json_too_deep", ["64"])
        print(f"1. {what} ({len(body) // 1024} KB): 400 naming the limit")
    # Within the bound, nesting is still parsed (and judged on its merits).
    expect_error("stop 10 deep", request(port, "POST", "/v1/completions", {"prompt": "x", "stop": [[[[[[[[[[]]]]]]]]]]}),
                 400, "invalid_value")
    health_within(port, 1)


def browser_policy(port):
    url = "/v1/completions"
    body = json.dumps({"prompt": "hi", "max_tokens": 2}).encode()
    # A cross-site "simple" request: text/plain needs no preflight. Refused for its Origin...
    expect_error("text/plain from a foreign page", request(port, "POST", url, body, {
        "Content-Type": "text/plain", "Origin": "https://evil.example"}), 403, "origin_not_allowed", ["--cors-origin"])
    # ...and for its type, whoever sends it.
    expect_error("text/plain without Origin", request(port, "POST", url, body, {"Content-Type": "text/plain"}), 415,
                 "unsupported_media_type", ["application/json"])
    expect_error("form data", request(port, "POST", url, body, {"Content-Type": "application/x-www-form-urlencoded"}), 415)
    # DNS rebinding: the page's own name in Host.
    expect_error("foreign Host", request(port, "GET", "/v1/models", host=f"evil.example:{port}"), 403,
                 "host_not_allowed", ["--allowed-host"])
    expect_error("foreign Host, POST", request(port, "POST", url, body, host="rebind.example"), 403, "host_not_allowed")
    for host in (f"localhost:{port}", f"[::1]:{port}", f"mybox.test:{port}"):  # mybox.test: --allowed-host
        st, _, b = request(port, "GET", "/v1/models", host=host)
        if st != 200:
            fail(f"Host {host}: {st} {b[:200]!r}")
    # Clients without Origin (curl, SDKs) are unaffected; JSON with a charset parameter is JSON.
    st, _, b = request(port, "POST", url, body, {"Content-Type": "application/json; charset=utf-8"})
    if st != 200 or "choices" not in json.loads(b):
        fail(f"plain JSON POST: {st} {b[:200]!r}")
    # Local pages, on any port, may call the API: preflight answered, the origin echoed.
    for origin in ("http://localhost:5173", "http://127.0.0.1:3000", "https://app.example"):
        st, h, _ = request(port, "OPTIONS", url, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "content-type, authorization"})
        if (st != 204 or h.get("access-control-allow-origin") != origin
                or "POST" not in h.get("access-control-allow-methods", "")
                or "content-type" not in h.get("access-control-allow-headers", "").lower()):
            fail(f"preflight from {origin}: {st} {h}")
        st, h, b = request(port, "POST", url, body, {"Origin": origin})
        if st != 200 or h.get("access-control-allow-origin") != origin:
            fail(f"POST from {origin}: {st} {h} {b[:200]!r}")
    st, h, _ = request(port, "OPTIONS", url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    if st != 403 or "access-control-allow-origin" in h:
        fail(f"preflight from a foreign page: {st} {h}")
    st, h, _ = request(port, "GET", "/v1/models", headers={"Origin": "https://evil.example"})
    if st != 403 or "access-control-allow-origin" in h:
        fail(f"GET from a foreign page: {st} {h}")
    # The chat page, and its same-origin calls under an allowed name.
    st, h, b = request(port, "GET", "/")
    if st != 200 or not h.get("content-type", "").startswith("text/html") or b"<html" not in b.lower():
        fail(f"chat page: {st} {h}")
    st, h, _ = request(port, "POST", url, body, {"Origin": f"http://mybox.test:{port}"}, host=f"mybox.test:{port}")
    if st != 200:
        fail(f"same-origin POST under --allowed-host: {st}")
    print("2. text/plain 415, foreign Origin/Host 403, local pages + preflight + --allowed-host + --cors-origin ok")


def chunked_flood(port, pid):
    """160 MiB of chunks as fast as the socket takes them; the 413 must come while sending."""
    hwm0 = vm_kib(pid, "VmHWM")
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
    sent = [0]
    responses = []
    reader = threading.Thread(target=lambda: responses.extend(read_responses(s, 1, 30)))
    reader.start()
    try:
        for _ in range(160 * 16):
            if responses:
                break
            s.sendall(chunk)
            sent[0] += 0x10000
    except OSError:
        pass  # the server closed its side after the 413
    reader.join(30)
    s.close()
    if not responses or responses[0][0] != 413:
        fail(f"chunked flood: no 413 ({responses[:1]}) after {sent[0] >> 20} MiB")
    e = error_of(responses[0][2])
    if "--max-body" not in e["message"]:
        fail(f"413 does not name --max-body: {e}")
    grew = (vm_kib(pid, "VmHWM") - hwm0) >> 10
    if sent[0] > 32 << 20 or grew > 24:
        fail(f"chunked flood: 413 after {sent[0] >> 20} MiB sent, peak RSS +{grew} MiB")
    print(f"3. chunked 160 MiB: 413 after {sent[0] >> 20} MiB sent (1 MiB limit + socket buffers), peak RSS +{grew} MiB")
    health_within(port, 1)


def slow_clients(port):
    # The listen backlog is the system's (ss shows it as the listening socket's Send-Q), not 5.
    ss = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout.split()
    if len(ss) < 3 or int(ss[2]) < 128:
        fail(f"listen backlog: {ss}")
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    dribblers = [socket.create_connection(("127.0.0.1", port)) for _ in range(22)]
    head = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Pad: {'a' * 40}\r\n\r\n".encode()
    t0 = time.monotonic()
    worst = 0.0
    sent = 0
    while time.monotonic() - t0 < READ_TIMEOUT + 1.5:
        for d in dribblers:
            try:
                d.send(head[sent:sent + 1])
            except OSError:
                pass
        sent += 1
        worst = max(worst, health_within(port, 1))
        time.sleep(0.5)
    # Past the header deadline each dribbler has a 408 and a closed connection.
    for d in dribblers:
        got = read_responses(d, 1, 5)
        if not got or got[0][0] != 408 or "header" not in error_of(got[0][2])["message"]:
            fail(f"a dribbling client past the header deadline: {got}")
        d.close()
    for s in idle:
        s.close()
    print(f"4. 22 dribbling + 50 idle connections: /health within {worst * 1000:.0f} ms throughout; dribblers got 408 "
          f"after {READ_TIMEOUT} s; backlog {ss[2]}")


def connection_cap(tmp_model):
    proc, _, port = start_server([ST_BIN, "serve", "-m", tmp_model, "--port", "0", "-t", "1", "--max-connections", "8"])
    try:
        # Idle connections (keep-alive spares) give way to new ones at the cap.
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        time.sleep(0.3)
        health_within(port, 1)
        for s in idle:
            s.close()
        time.sleep(0.3)
        # Connections with a request under way do not: beyond the cap, a 503 naming it.
        busy = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        for s in busy:
            s.sendall(b"GET /health HTTP/1.1\r\n")
        time.sleep(0.3)
        st, _, body = request(port, "GET", "/health")
        if st != 503 or error_of(body)["code"] != "too_many_connections" or "8" not in error_of(body)["message"]:
            fail(f"over the connection cap: {st} {body[:200]!r}")
        for s in busy:
            s.close()
        time.sleep(0.3)
        health_within(port, 1)
    finally:
        stop_server(proc)
    print("4. --max-connections 8: idle connections give way; beyond 8 requests under way, 503 too_many_connections")


def port_checks(tmp_model, port):
    r = subprocess.run([ST_BIN, "serve", "-m", tmp_model, "--port", str(port), "-t", "1"], capture_output=True, text=True,
                       timeout=60)
    if r.returncode == 0 or "in use" not in r.stderr:
        fail(f"a second server on port {port}: exit {r.returncode}, {r.stderr[-300:]!r}")
    r = subprocess.run([ST_BIN, "serve", "-m", tmp_model, "--port", "70000", "-t", "1"], capture_output=True, text=True,
                       timeout=60)
    if r.returncode == 0 or "70000" not in r.stderr or "65535" not in r.stderr or "listening" in r.stderr:
        fail(f"--port 70000: exit {r.returncode}, {r.stderr[-300:]!r}")
    print("5. a second server on a used port and --port 70000 are refused:", [x for x in r.stderr.splitlines() if "70000" in x][0])


def pipelining(port):
    host = f"Host: 127.0.0.1:{port}\r\n"
    body = json.dumps({"prompt": "hi", "max_tokens": 3, "temperature": 0}).encode()
    data = (f"GET /health HTTP/1.1\r\n{host}\r\n" + f"GET /v1/models HTTP/1.1\r\n{host}\r\n"
            + f"POST /v1/completions HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body + f"GET /metrics HTTP/1.1\r\n{host}Connection: close\r\n\r\n".encode()
    got = raw(port, data, count=4)
    kinds = []
    for st, _, b in got:
        kinds.append(st)
    if [g[0] for g in got] != [200] * 4:
        fail(f"pipelined: {len(got)} responses, statuses {kinds}")
    if (json.loads(got[0][2])["status"] != "ok" or json.loads(got[1][2])["object"] != "list"
            or json.loads(got[2][2])["object"] != "text_completion" or b"smallthinker_requests_total" not in got[3][2]):
        fail("pipelined responses out of order")
    print("6. four pipelined requests (GET, GET, POST completion, GET) answered in order")


def bearer_scheme(tmp_model):
    proc, _, port = start_server([ST_BIN, "serve", "-m", tmp_model, "--port", "0", "-t", "1", "--api-key", "K3y"])
    try:
        for auth in ("Bearer K3y", "bearer K3y", "BEARER K3y"):
            st, _, b = request(port, "GET", "/v1/models", headers={"Authorization": auth})
            if st != 200:
                fail(f"Authorization: {auth}: {st} {b[:200]!r}")
        for auth in ("Bearer k3y", "Basic K3y", None):
            expect_error(f"Authorization: {auth}", request(port, "GET", "/v1/models", headers={"Authorization": auth}), 401,
                         "invalid_api_key")
    finally:
        stop_server(proc)
    print("7. 'bearer', 'BEARER' and 'Bearer' schemes accepted; a wrong key or scheme is 401")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = synth_model(os.path.join(tmp, "tiny.gguf"))
        proc, _, port = start_server([ST_BIN, "serve", "-m", model, "--port", "0", "-t", "1", "--parallel", "2",
                                      "--read-timeout", str(READ_TIMEOUT), "--allowed-host", "mybox.test",
                                      "--cors-origin", "https://app.example"])
        try:
            deep_nesting(port)
            browser_policy(port)
            chunked_flood(port, proc.pid)
            slow_clients(port)
            port_checks(model, port)
            pipelining(port)
        finally:
            stop_server(proc)
        connection_cap(model)
        bearer_scheme(model)
    print("test_hardening: all passed")


if __name__ == "__main__":
    main()
