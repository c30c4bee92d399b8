#!/usr/bin/env python3
"""A model file truncated while the engine runs under a memory budget (experts streamed from the
file) must end the run with a clear error naming the file and the expert, never a crash or a
silent wrong answer. The file is cut in the middle of the expert tensors after the model has
loaded, for both I/O back-ends (io_uring and the pread thread pool)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

ST_BIN = os.environ.get("ST_BIN")
passed = failed = 0


def check(ok, what):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    passed += ok
    failed += not ok


def main():
    tmp = tempfile.mkdtemp(prefix="st_trunc_")
    src = os.path.join(tmp, "m.gguf")
    r = subprocess.run([ST_BIN, "synth", "-o", src, "--preset", "tiny-swa", "--type", "q8_0", "--layers", "6",
                        "--experts", "32", "--experts-used", "4", "--ff", "256", "--seed", "3"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "synth a model")
    size = os.path.getsize(src)
    for io in ("io_uring", "pread"):
        path = os.path.join(tmp, "cut_%s.gguf" % io)
        shutil.copy(src, path)
        # A long generation under a budget far below the file: experts keep being read.
        p = subprocess.Popen([ST_BIN, "run", "-m", path, "--tokens", "1,2,3,4", "-n", "1000", "-c", "1024", "-b", "16",
                              "--temp", "1", "--memory", str(30 << 20), "--io", io],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = p.stdout.read(1)  # the first generated text: loaded and generating
        still_running = len(first) == 1 and p.poll() is None
        os.truncate(path, size * 55 // 100)  # mid-expert: the expert tensors are most of the file
        try:
            _, err = p.communicate(timeout=120)
            err = err.decode(errors="replace")
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            check(False, "%s: the run ends after the truncation (it hung)" % io)
            continue
        check(still_running, "%s: the file was cut while the engine was running" % io)
        check(p.returncode == 1, "%s: exit code 1, not a signal (was %d)" % (io, p.returncode))
        check(p.returncode != -signal.SIGSEGV and p.returncode != -signal.SIGBUS, "%s: no SIGSEGV/SIGBUS" % io)
        msg = err.strip().splitlines()[-1] if err.strip() else ""
        check(path in msg and "truncated" in msg and "expert" in msg,
              "%s: the error names the file, the expert and the cause: %s" % (io, msg[-300:]))
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if not ST_BIN or not os.path.exists(ST_BIN):
        print("FAIL: ST_BIN is not set")
        sys.exit(1)
    sys.exit(main())
