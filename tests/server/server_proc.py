"""Shared by the Python server tests: failing with a message, starting `smallthinker serve` on
a free loopback port (its stderr announces the address), and stopping it the way a user does
(SIGTERM), which must end it promptly with exit status 0."""
import os
import re
import signal
import subprocess
import sys

ST_BIN = os.environ.get("ST_BIN", "build/bin/smallthinker")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def start_server(cmd):
    """Runs `cmd` (a serve command line with --port 0); returns (process, host, port)."""
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    log = ""
    for line in p.stderr:
        log += line
        m = re.search(r"listening on http://([^:]+):(\d+)", line)
        if m:
            return p, m.group(1), int(m.group(2))
    fail("server exited before listening:\n" + log)


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("server did not stop on SIGTERM")
    if rc != 0:
        fail(f"server exit status {rc} after SIGTERM")


def synth_model(path, ctx=2048):
    """A random-weight tiny model (`synth --preset tiny`): starts in a moment, generates fast."""
    subprocess.run([ST_BIN, "synth", "-o", path, "--preset", "tiny", "--ctx", str(ctx)], check=True, capture_output=True)
    return path


def read_responses(sock, count, timeout=30):
    """Reads `count` HTTP/1.1 responses from a socket (Content-Length or chunked bodies); returns
    a list of (status, headers dict with lower-case names, body bytes), fewer if it closes first."""
    sock.settimeout(timeout)
    data = b""
    out = []

    def need(n):
        nonlocal data
        while len(data) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError
            data += chunk

    def line():
        nonlocal data
        while b"\r\n" not in data:
            need(len(data) + 1)
        head, _, data = data.partition(b"\r\n")
        return head

    try:
        while len(out) < count:
            status_line = line().decode("latin-1")
            headers = {}
            while True:
                h = line().decode("latin-1")
                if not h:
                    break
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            status = int(status_line.split()[1])
            if status == 100:
                continue
            body = b""
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int(line().split(b";")[0], 16)
                    need(size + 2)
                    body += data[:size]
                    data = data[size + 2:]
                    if size == 0:
                        break
            else:
                n = int(headers.get("content-length", "0"))
                need(n)
                body, data = data[:n], data[n:]
            out.append((status, headers, body))
    except (EOFError, ConnectionResetError):
        pass
    return out


def vm_kib(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for row in f:
            if row.startswith(field + ":"):
                return int(row.split()[1])
    raise KeyError(field)
