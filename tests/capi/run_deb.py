"""The Debian package (CPack): `cpack -G DEB` into a temporary directory, then
  - its control data (Package, Version, Depends from dpkg-shlibdeps) and its files: the command,
    libsmallthinker.so.0, the header, smallthinker.pc and the CMake package under /usr;
  - unpacked with `dpkg-deb -x`: `smallthinker --version` runs, and examples/c builds against it
    with pkg-config alone and answers like `smallthinker run --chat --temp 0`;
  - smallthinker(1) in it renders and covers every subcommand;
  - as root (CI; skipped with a message otherwise): `apt-get install ./smallthinker_*.deb`, the
    same checks from /usr, then `apt-get purge` and a check that every file of the package is
    gone. It installs only when that touches nothing else (no smallthinker package installed, no
    file it would overwrite, no dependency apt would add), under a machine-wide lock, and a
    marker file lets the next run purge a package left by a run killed midway.
Environment: ST_BIN, ST_BUILD_DIR, ST_SOURCE_DIR, ST_CMAKE (set by tests/capi/CMakeLists.txt)."""
import contextlib
import fcntl
import glob
import gzip
import os
import re
import shutil
import signal
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
MANPAGE = "usr/share/man/man1/smallthinker.1.gz"
LOCK = "/run/lock/smallthinker-deb-test.lock"
MARKER = "/var/tmp/smallthinker-deb-test.installed"  # exists while the package is installed by this test


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


def check_manpage(path):
    """smallthinker(1) renders without roff warnings and documents every subcommand and the
    options of `run` (the page is generated from the command's help)."""
    if not check(os.path.exists(path), "the package holds smallthinker(1)"):
        return
    with gzip.open(path, "rt") as f:
        roff = f.read()
    r = subprocess.run(["groff", "-man", "-ww", "-Tascii"], input=roff, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(), "smallthinker(1) renders without warnings", r.stderr)
    page = re.sub(r".\x08", "", r.stdout)  # overstrike bold/underline
    top = run([ST_BIN, "--help"]).stdout.split("Subcommands:")[1]
    subs = re.findall(r"^  (\S+)", top, re.M)
    missing = [c for c in subs if not re.search(r"^   %s$" % re.escape(c), page, re.M)]
    check(len(subs) > 10 and not missing, "smallthinker(1) has a section per subcommand (%d)%s" %
          (len(subs), ": missing " + ", ".join(missing) if missing else ""))
    opts = re.findall(r"^  (-\S+|--\S+)", run([ST_BIN, "run", "--help"]).stdout, re.M)
    absent = [o for o in opts if o.split(",")[-1].split("{")[0] not in page and not o.startswith("-h")]
    check(opts and not absent, "smallthinker(1) documents run's options%s" % (": missing " + ", ".join(absent)
                                                                            if absent else ""))


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
    for f in FILES + [MANPAGE]:
        check(("./" + f) in contents, "the package holds /%s" % f)


def check_unpacked(deb, tmp, expected):
    root = os.path.join(tmp, "root")
    check(run(["dpkg-deb", "-x", deb, root]).returncode == 0, "dpkg-deb -x")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(root, "usr/lib/pkgconfig"),
               LD_LIBRARY_PATH=os.path.join(root, "usr/lib"))
    r = run([os.path.join(root, "usr/bin/smallthinker"), "--version"])
    check(r.returncode == 0 and re.search(r"\d+\.\d+\.\d+", r.stdout + r.stderr), "the unpacked smallthinker --version")
    check_manpage(os.path.join(root, MANPAGE))
    answer_with(root, tmp, env, expected, "unpacked")


_signals = {"deferring": False, "pending": None}


def _unwind(signum, _frame):
    """SIGTERM/SIGHUP/SIGINT: unwind through the cleanup, but never while apt or dpkg runs
    (killing dpkg midway leaves the machine's package database needing `dpkg --configure -a`):
    then only once it has finished."""
    if _signals["deferring"]:
        _signals["pending"] = signum
    else:
        raise SystemExit("signal %d" % signum)


def apt(args, tool="apt-get"):
    """apt-get (or dpkg) with signals deferred until it ends, in its own session (a Ctrl-C in the
    terminal does not reach it), waiting for dpkg's lock rather than failing on it."""
    cmd = [tool] + (["-o", "DPkg::Lock::Timeout=300"] if tool == "apt-get" else []) + args
    _signals["deferring"] = True
    try:
        return subprocess.run(cmd, capture_output=True, text=True, start_new_session=True,
                              env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    finally:
        _signals["deferring"] = False
        signum, _signals["pending"] = _signals["pending"], None
        if signum is not None:
            raise SystemExit("signal %d" % signum)


def installed():
    r = run(["dpkg-query", "-W", "-f", "${Status}", "smallthinker"])
    return r.returncode == 0 and "installed" in r.stdout.split()


def purge(why):
    """apt-get purge (remove would leave dpkg's record in "config-files" state), then checks
    that none of the package's files is left."""
    r = apt(["purge", "-y", "smallthinker"])
    check(r.returncode == 0, "apt-get purge smallthinker (%s)" % why, r.stdout + r.stderr)
    left = [f for f in FILES + [MANPAGE] if os.path.lexists("/" + f)]
    return check(not left and not installed() and run(["dpkg-query", "-W", "smallthinker"]).returncode != 0,
                 "removal leaves none of the package's files nor dpkg's record%s" %
                 (": " + ", ".join(left) if left else ""))


@contextlib.contextmanager
def machine_lock():
    """Runs of this test on one machine take turns (two build trees testing at once), and a
    SIGTERM/SIGHUP/SIGINT unwinds through the cleanup (deferred while apt runs). A SIGKILL
    cannot be caught: the marker file tells the next run to finish and purge."""
    old = {sig: signal.signal(sig, _unwind) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    with open(LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def ready_to_install(deb):
    """Whether installing touches nothing but this package: none installed already (a marker
    left by a run killed midway means ours: purged first), no unowned file it would overwrite,
    and no dependency apt would have to add (it would stay after the purge)."""
    if os.path.exists(MARKER):
        print("a previous run was stopped with the package installed: removing it first")
        if apt(["--audit"], "dpkg").stdout.strip():  # killed inside dpkg: finish what it was doing
            apt(["--configure", "-a"], "dpkg")
        if run(["dpkg-query", "-W", "smallthinker"]).returncode == 0 and not purge("left by a previous run"):
            return False
        os.unlink(MARKER)
    audit = apt(["--audit"], "dpkg").stdout.strip()
    if audit:
        return check(False, "dpkg's database is not clean (dpkg --audit): not installing", audit)
    if installed():
        return check(False, "a smallthinker package is installed (not by this test): it is left alone, "
                            "so the install check cannot run")
    present = [f for f in FILES + [MANPAGE] if os.path.lexists("/" + f)]
    if present:
        return check(False, "files the package would overwrite exist already: %s" % ", ".join(present))
    sim = apt(["install", "-s", "--no-install-recommends", deb])
    extra = [p for p in re.findall(r"^Inst (\S+)", sim.stdout, re.M) if p != "smallthinker"]
    return check(sim.returncode == 0 and not extra,
                 "installing adds no package but smallthinker%s" % (" (it would add %s)" % ", ".join(extra)
                                                                    if extra else ""), sim.stdout + sim.stderr)


def man_excluded():
    """Whether dpkg is told not to install man pages (minimal container images are)."""
    for conf in glob.glob("/etc/dpkg/dpkg.cfg.d/*"):
        with open(conf, errors="replace") as f:
            if re.search(r"^path-exclude[= ]+/usr/share/man", f.read(), re.M):
                return True
    return False


def check_installed(deb, tmp, expected):
    """apt-get install ./smallthinker_*.deb, the command and examples/c from /usr, apt-get purge:
    on every run as root (CI); skipped only when not root."""
    if os.geteuid() != 0:
        print("SKIPPED: installing the package needs root (CI runs this as root): the package was checked "
              "unpacked only")
        return
    with machine_lock():
        if not ready_to_install(deb):
            return
        open(MARKER, "w").close()
        try:
            r = apt(["install", "-y", "--no-install-recommends", deb])
            if not check(r.returncode == 0, "apt-get install ./%s" % os.path.basename(deb), r.stdout + r.stderr):
                return
            r = run(["/usr/bin/smallthinker", "--version"])
            check(r.returncode == 0, "/usr/bin/smallthinker --version: %s" % (r.stdout + r.stderr).strip())
            if man_excluded():
                print("skipped: man -w smallthinker (dpkg's path-exclude drops /usr/share/man on this machine)")
            else:
                r = run(["man", "-w", "smallthinker"])
                check(r.returncode == 0 and r.stdout.strip() == "/" + MANPAGE, "man finds smallthinker(1): %s" %
                      (r.stdout + r.stderr).strip())
            env = {k: v for k, v in os.environ.items() if k not in ("PKG_CONFIG_PATH", "LD_LIBRARY_PATH")}
            answer_with("/", tmp, env, expected, "installed")
        finally:
            if purge("after the checks"):
                os.unlink(MARKER)  # (kept when the purge failed: the next run tries again)


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
