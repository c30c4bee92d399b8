"""Tiny test harness shared by tests/reference/test_*.py: named checks, a closing
'N passed, M failed' line and a nonzero exit status on any failure (ctest reads the exit status)."""
import os
import subprocess
import sys
import tempfile
import time
import traceback


class Results:
    def __init__(self, title):
        self.title = title
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.t0 = time.time()

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS %s %s" % (name, detail), flush=True)
        else:
            self.failed += 1
            self.failures.append(name)
            print("FAIL %s %s" % (name, detail), flush=True)
        return ok

    def run(self, name, fn, *args, **kw):
        """Runs fn; an exception counts as a failure of `name` (fn may record its own checks)."""
        try:
            return fn(*args, **kw)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            self.check(name, False, "exception: %s: %s" % (type(e).__name__, e))
            return None

    def finish(self):
        dt = time.time() - self.t0
        if self.failures:
            print("%s: failed checks: %s" % (self.title, ", ".join(self.failures)))
        print("%s: %.1fs" % (self.title, dt))
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed or self.passed == 0 else 0)


def st_bin(res):
    """Path of the engine binary from $ST_BIN. Missing -> a loud failure (not a skip)."""
    b = os.environ.get("ST_BIN")
    if not b:
        src = os.environ.get("ST_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        b = os.path.join(src, "build", "bin", "smallthinker")
    ok = os.path.isfile(b) and os.access(b, os.X_OK)
    res.check("engine binary present", ok, b if ok else "ST_BIN=%r is not an executable file" % b)
    return b if ok else None


def run_engine(args, timeout=300):
    """Runs the engine; returns (returncode, stdout+stderr text)."""
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -999, "timeout after %ds: %s" % (timeout, " ".join(args))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def has_subcommand(binary, name):
    rc, out = run_engine([binary, name, "--help"], timeout=60)
    return rc == 0


def tmpdir():
    return tempfile.mkdtemp(prefix="st_ref_")
