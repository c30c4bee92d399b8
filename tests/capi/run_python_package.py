"""The Python package as a user installs it: a fresh venv (`python3 -m venv
--system-site-packages`, Debian's python3), `pip install --no-build-isolation --no-index .` at
the repository root (offline; setuptools, pip, wheel, numpy, pytest and jsonschema are Debian
packages), then examples/python/chat.py (its answer equals the CLI's) and the pytest suite python/tests
from outside the source tree, so it imports the
installed package with its bundled libsmallthinker.so.
Environment: ST_BIN, ST_SOURCE_DIR, ST_CAPI_LIB (set by tests/capi/CMakeLists.txt)."""
import os
import shutil
import subprocess
import sys
import tempfile


def check_example(py, source, tmp, env):
    """examples/python/chat.py with the installed package prints the CLI's greedy chat answer."""
    model = os.path.join(source, "models", "smallthinker-nano.gguf")
    question = "Who made the heaven and the earth?"
    cli = subprocess.run([os.environ.get("ST_BIN", ""), "run", "-m", model, "--chat", "-p", question, "-n", "40",
                          "--temp", "0", "-c", "1024"], capture_output=True, text=True, timeout=300)
    r = subprocess.run([py, os.path.join(source, "examples", "python", "chat.py"), model, question, "40"], cwd=tmp,
                       env=env, capture_output=True, text=True, timeout=300)
    ok = cli.returncode == 0 and r.returncode == 0 and r.stdout.strip() == cli.stdout.strip() and r.stdout.strip()
    print("%s: examples/python/chat.py answers as `smallthinker run --chat --temp 0`: %r" %
          ("ok" if ok else "FAIL", r.stdout.strip()[:80]))
    if not ok:
        print("  cli: %r\n  %s" % (cli.stdout.strip(), r.stderr))
    return ok


def main():
    source, lib = os.environ.get("ST_SOURCE_DIR"), os.environ.get("ST_CAPI_LIB")
    if not source or not lib or not os.path.exists(lib):
        print("FAIL: ST_SOURCE_DIR and ST_CAPI_LIB must be set (got %r, %r)" % (source, lib))
        return 1
    tmp = tempfile.mkdtemp(prefix="st_python_")
    try:
        venv = os.path.join(tmp, "venv")
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        env = dict(os.environ, SMALLTHINKER_LIBRARY=lib, PIP_DISABLE_PIP_VERSION_CHECK="1")
        r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", "."], cwd=source, env=env,
                           capture_output=True, text=True, timeout=300)
        print(r.stdout[-3000:] + r.stderr[-3000:])
        if r.returncode != 0:
            print("FAIL: pip install --no-build-isolation . in a fresh venv")
            return 1
        print("ok: pip install --no-build-isolation . in a fresh venv")
        env.pop("SMALLTHINKER_LIBRARY")  # from here on the package finds its own copy
        show = subprocess.run([py, "-c", "import smallthinker, os; d = os.path.dirname(smallthinker.__file__); "
                               "print(d); print(sorted(os.listdir(d)))"], cwd=tmp, env=env, capture_output=True, text=True)
        print(show.stdout + show.stderr)
        if show.returncode != 0 or venv not in show.stdout or "libsmallthinker.so.0" not in show.stdout \
                or "py.typed" not in show.stdout:
            print("FAIL: the venv's smallthinker package bundles libsmallthinker.so.0 and py.typed")
            return 1
        if not check_example(py, source, tmp, env):
            return 1
        tests = os.path.join(source, "python", "tests")
        r = subprocess.run([py, "-m", "pytest", "-v", "-p", "no:cacheprovider", tests], cwd=tmp, env=env, timeout=900)
        return r.returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
