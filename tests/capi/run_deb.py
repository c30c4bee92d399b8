"""The Debian package (CPack): `cpack -G DEB` into a temporary directory, then
  - its control data (Package, Version, Depends from dpkg-shlibdeps) and its files: the command,
    libsmallthinker.so.0, the header, smallthinker.pc and the CMake package under /usr;
  - unpacked with `dpkg-deb -x`: `smallthinker --version` runs, and examples/c builds against it
    with pkg-config alone and answers like `smallthinker run --chat --temp 0`;
  - with ST_DEB_INSTALL=1 (as root, and only when no smallthinker package is installed yet):
    `apt-get install ./smallthinker_*.deb`, the same checks from /usr, then `apt-get purge` and
    a check that every file of the package is gone.
Environment: ST_BIN, ST_BUILD_DIR, ST_SOURCE_DIR, ST_CMAKE (set by tests/capi/CMakeLists.txt)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE = os.environ.get("ST_SOURCE_DIR", "")
BUILD = os.environ.get("ST_BUILD_DIR", "")
ST_BIN = os.environ.get("ST_BIN", "")
CPACK = os.path.join(os.path.dirname(os.environ.get("ST_CMAKE", "cmake")), "cpack")
MODEL = os.path.join(SOURCE, "models", "smallthinker-nano.gguf")
QUESTION = "Who made the heaven and the earth?"
failures = []
FILES = ["usr/bin/smallthinker", "usr/include/smallthinker.h", "usr/lib/libsmallthinker.so.0",
         "usr/lib/pkgconfig/smallthinker.pc", "usr/lib/cmake/smallthinker/smallthinkerConfig.cmake"]


def check(ok, what, detail=""):
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)
        if detail:
            print("  " + detail.strip().replace("\n", "\n  "))
    return ok


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def answer_with(root, tmp, env, expected, where):
    """Builds examples/c against `root`'s pkg-config data and runs it on the nano model."""
    src = os.path.join(tmp, "c-" + where)
    shutil.copytree(os.path.join(SOURCE, "examples", "c"), src)
    r = run(["make", "-C", src], env=env)
    if not check(r.returncode == 0, "examples/c builds against the package (%s)" % where, r.stdout + r.stderr):
        return
    r = run([os.path.join(src, "chat"), MODEL, QUESTION, "40"], env=env)
    check(r.returncode == 0 and r.stdout.strip() == expected, "examples/c answers as the CLI (%s)" % where,
          "%r vs %r %s" % (r.stdout.strip(), expected, r.stderr))
    del root


def build_deb(tmp):
    r = run([CPACK, "-G", "DEB", "-B", tmp, "--config", os.path.join(BUILD, "CPackConfig.cmake")])
    debs = glob.glob(os.path.join(tmp, "smallthinker_*.deb"))
    check(r.returncode == 0 and len(debs) == 1, "cpack -G DEB builds smallthinker_*.deb", r.stdout + r.stderr)
    return debs[0] if debs else None


def check_deb(deb):
    info = run(["dpkg-deb", "--info", deb]).stdout
    check(re.search(r"^ Package: smallthinker$", info, re.M) and re.search(r"^ Version: \d+\.\d+\.\d+", info, re.M),
          "control: Package smallthinker with a version")
    depends = re.search(r"^ Depends: (.*)$", info, re.M)
    check(depends is not None and "libc6" in depends.group(1), "control: Depends from dpkg-shlibdeps (%s)" %
          (depends.group(1) if depends else None))
    contents = run(["dpkg-deb", "--contents", deb]).stdout
    for f in FILES:
        check(("./" + f) in contents, "the package holds /%s" % f)


def check_unpacked(deb, tmp, expected):
    root = os.path.join(tmp, "root")
    check(run(["dpkg-deb", "-x", deb, root]).returncode == 0, "dpkg-deb -x")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(root, "usr/lib/pkgconfig"),
               LD_LIBRARY_PATH=os.path.join(root, "usr/lib"))
    r = run([os.path.join(root, "usr/bin/smallthinker"), "--version"])
    check(r.returncode == 0 and re.search(r"\d+\.\d+\.\d+", r.stdout + r.stderr), "the unpacked smallthinker --version")
    answer_with(root, tmp, env, expected, "unpacked")


def check_installed(deb, tmp, expected):
    if os.environ.get("ST_DEB_INSTALL") != "1":
        print("skipped: installing the package (set ST_DEB_INSTALL=1, as root)")
        return
    if os.geteuid() != 0 or run(["dpkg", "-s", "smallthinker"]).returncode == 0:
        check(False, "ST_DEB_INSTALL=1 needs root and no smallthinker package installed yet")
        return
    r = run(["apt-get", "install", "-y", "--no-install-recommends", deb],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if not check(r.returncode == 0, "apt-get install ./%s" % os.path.basename(deb), r.stdout + r.stderr):
        return
    try:
        r = run(["/usr/bin/smallthinker", "--version"])
        check(r.returncode == 0, "/usr/bin/smallthinker --version: %s" % (r.stdout + r.stderr).strip())
        env = {k: v for k, v in os.environ.items() if k not in ("PKG_CONFIG_PATH", "LD_LIBRARY_PATH")}
        answer_with("/", tmp, env, expected, "installed")
    finally:
        # purge: remove also drops dpkg's record of the package ("config-files" state otherwise)
        r = run(["apt-get", "purge", "-y", "smallthinker"], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        check(r.returncode == 0, "apt-get purge smallthinker", r.stdout + r.stderr)
        left = [f for f in FILES if os.path.lexists("/" + f)]
        check(not left and run(["dpkg", "-s", "smallthinker"]).returncode != 0,
              "removal leaves none of the package's files%s" % (": " + ", ".join(left) if left else ""))


def main():
    for name, value in (("ST_BIN", ST_BIN), ("ST_BUILD_DIR", BUILD), ("ST_SOURCE_DIR", SOURCE)):
        if not value or not os.path.exists(value):
            print("FAIL: %s is not set to an existing path (%r)" % (name, value))
            return 1
    r = run([ST_BIN, "run", "-m", MODEL, "--chat", "-p", QUESTION, "-n", "40", "--temp", "0", "-c", "1024"])
    expected = r.stdout.strip()
    check(r.returncode == 0 and expected, "the CLI's answer (the oracle)")
    tmp = tempfile.mkdtemp(prefix="st_deb_")
    try:
        deb = build_deb(tmp)
        if deb:
            check_deb(deb)
            check_unpacked(deb, tmp, expected)
            check_installed(deb, tmp, expected)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
