"""Shared by the Python server tests: failing with a message, starting `smallthinker serve` on
a free loopback port (its stderr announces the address), and stopping it the way a user does
(SIGTERM), which must end it promptly with exit status 0."""
import re
import signal
import subprocess
import sys


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
