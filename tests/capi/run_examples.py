"""The examples against an installed package, not the build tree:
  - `cmake --install --component capi` into a temporary prefix (and a whole `cmake --install`
    into another: the command and its man page);
  - examples/c built with its Makefile, whose flags come from `pkg-config --cflags --libs
    smallthinker` alone (PKG_CONFIG_PATH pointing into the prefix);
  - examples/cpp configured with `find_package(smallthinker)` (CMAKE_PREFIX_PATH = the prefix)
    and checked to have found the prefix's package;
  - both run on the nano model (models/smallthinker-nano.gguf), load the prefix's
    libsmallthinker.so, and print the same answer as `smallthinker run --chat --temp 0`
    (the CLI links the static library: an independent path to the same generation).
Environment: ST_BIN, ST_BUILD_DIR, ST_SOURCE_DIR, ST_CMAKE (set by tests/capi/CMakeLists.txt)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE = os.environ.get("ST_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("ST_BUILD_DIR")
CMAKE = os.environ.get("ST_CMAKE", "cmake")
ST_BIN = os.environ.get("ST_BIN")
MODEL = os.path.join(SOURCE, "models", "smallthinker-nano.gguf")
QUESTION = "Who made the heaven and the earth?"
N_PREDICT = "40"
failures = []


def check(ok, what, detail=""):
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)
        if detail:
            print("  " + detail.strip().replace("\n", "\n  "))
    return ok


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def cli_answer():
    r = run([ST_BIN, "run", "-m", MODEL, "--chat", "-p", QUESTION, "-n", N_PREDICT, "--temp", "0", "-c", "1024"])
    check(r.returncode == 0, "smallthinker run --chat --temp 0 exits 0", r.stderr)
    return r.stdout.strip()


def install(prefix):
    r = run([CMAKE, "--install", BUILD, "--prefix", prefix, "--component", "capi"])
    check(r.returncode == 0, "cmake --install --component capi into %s" % prefix, r.stderr)
    configs = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs if f == "smallthinkerConfig.cmake"]
    check(len(configs) == 1, "the CMake package (smallthinkerConfig.cmake) is installed")


def install_all(prefix):
    """A plain `cmake --install` (every component): the command runs from the prefix and its
    man page is there, where `man` looks (share/man/man1)."""
    r = run([CMAKE, "--install", BUILD, "--prefix", prefix])
    check(r.returncode == 0, "cmake --install into %s" % prefix, r.stderr)
    r = run([os.path.join(prefix, "bin", "smallthinker"), "--version"])
    check(r.returncode == 0 and r.stdout.startswith("smallthinker "), "the installed smallthinker --version: %r" %
          r.stdout.strip())
    page = os.path.join(prefix, "share", "man", "man1", "smallthinker.1.gz")
    r = run(["man", "-M", os.path.join(prefix, "share", "man"), "-w", "smallthinker"])
    check(os.path.exists(page) and r.returncode == 0 and r.stdout.strip() == page,
          "cmake --install puts smallthinker(1) where man -M PREFIX/share/man finds it", r.stdout + r.stderr)


def build_c(prefix, tmp):
    src = os.path.join(tmp, "c")
    shutil.copytree(os.path.join(SOURCE, "examples", "c"), src)
    pcdir = [d for d, _, fs in os.walk(prefix) if "smallthinker.pc" in fs]
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir[0] if pcdir else "")
    flags = run(["pkg-config", "--cflags", "--libs", "smallthinker"], env=env)
    check(flags.returncode == 0 and os.path.realpath(prefix) in os.path.realpath(flags.stdout.split("-I")[-1].split()[0]),
          "pkg-config --cflags --libs smallthinker points into the prefix: %s" % flags.stdout.strip())
    r = run(["make", "-C", src, "CFLAGS=-O2 -Werror"], env=env)
    check(r.returncode == 0 and os.path.exists(os.path.join(src, "chat")), "examples/c builds with its Makefile (pkg-config)",
          r.stdout + r.stderr)
    return os.path.join(src, "chat")


def build_cpp(prefix, tmp):
    out = os.path.join(tmp, "cpp")
    r = run([CMAKE, "-S", os.path.join(SOURCE, "examples", "cpp"), "-B", out, "-DCMAKE_PREFIX_PATH=" + prefix,
             "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror"])
    check(r.returncode == 0, "examples/cpp configures (find_package(smallthinker))", r.stdout + r.stderr)
    cache = open(os.path.join(out, "CMakeCache.txt")).read() if r.returncode == 0 else ""
    found = re.search(r"^smallthinker_DIR:PATH=(.*)$", cache, re.M)
    check(found is not None and os.path.realpath(found.group(1)).startswith(os.path.realpath(prefix)),
          "find_package found the prefix's package (%s)" % (found.group(1) if found else None))
    r = run([CMAKE, "--build", out])
    check(r.returncode == 0, "examples/cpp builds", r.stdout + r.stderr)
    return os.path.join(out, "chat_stream")


def run_example(exe, prefix, expected, what):
    if not os.path.exists(exe):
        return
    libdir = [d for d, _, fs in os.walk(prefix) if any(f.startswith("libsmallthinker.so") for f in fs)][0]
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    ldd = run(["ldd", exe], env=env).stdout
    lib = re.search(r"libsmallthinker\.so\.\d+ => (\S+)", ldd)
    check(lib is not None and os.path.realpath(lib.group(1)).startswith(os.path.realpath(prefix)),
          "%s loads the installed libsmallthinker.so (%s)" % (what, lib.group(1) if lib else None))
    r = run([exe, MODEL, QUESTION, N_PREDICT], env=env)
    answer = r.stdout.strip()
    check(r.returncode == 0 and len(answer) > 0, "%s runs and answers: %r" % (what, answer[:80]), r.stderr)
    check(answer == expected, "%s prints the same answer as the CLI" % what, "cli:     %r\nexample: %r" % (expected, answer))


def main():
    for name, value in (("ST_BIN", ST_BIN), ("ST_BUILD_DIR", BUILD)):
        if not value or not os.path.exists(value):
            print("FAIL: %s is not set to an existing path (%r)" % (name, value))
            return 1
    tmp = tempfile.mkdtemp(prefix="st_examples_")
    try:
        prefix = os.path.join(tmp, "prefix")
        install(prefix)
        install_all(os.path.join(tmp, "all"))
        expected = cli_answer()
        run_example(build_c(prefix, tmp), prefix, expected, "examples/c")
        run_example(build_cpp(prefix, tmp), prefix, expected, "examples/cpp")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
