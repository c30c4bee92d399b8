"""Shared by the runtime tests that drive the CLI from outside: PASS/FAIL/SKIP counting, running
a command (inside a cgroup-v1 memory limit when given), and making such a cgroup with the page
cache dropped, so a budgeted run is charged for everything it makes the kernel hold."""
import os
import subprocess

CG_ROOT = "/sys/fs/cgroup/memory"
counts = {"passed": 0, "failed": 0, "skipped": 0}


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    counts["passed" if ok else "failed"] += 1


def summary():
    """Prints the counts; returns the process exit status."""
    print("%(passed)d passed, %(failed)d failed, %(skipped)d skipped" % counts)
    return 1 if counts["failed"] else 0


def run(cmd, cgroup=None):
    def enter():
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", preexec_fn=enter if cgroup else None,
                          timeout=600)


def make_cgroup(name, limit):
    """A memory cgroup limited to `limit` bytes with the page cache dropped, or None (counted
    as skipped) without root and a writable cgroup v1 memory controller."""
    if os.geteuid() != 0 or not os.access(CG_ROOT, os.W_OK):
        counts["skipped"] += 1
        print("SKIP cgroup limit (needs root and cgroup v1 memory); running without it")
        return None
    cg = os.path.join(CG_ROOT, "st_test_%d_%s" % (os.getpid(), name))
    os.makedirs(cg, exist_ok=True)
    with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
        f.write(str(limit))
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")
    return cg


# The budget tests' model: ~40 MB of experts (32 per layer, 6 layers, q8_0), a few MB of
# everything else, sparse enough (92% zero ReGLU neurons) that layers switch to neuron
# bundles; the prompt they feed it.
BUDGET_TEST_TOKENS = ",".join(str((i * 37 + 11) % 400) for i in range(48))


def synth_budget_test_model(st_bin, path):
    """Writes the model; returns the synth run (check its returncode)."""
    return run([st_bin, "synth", "-o", path, "--preset", "tiny-swa", "--type", "q8_0", "--layers", "6",
                "--experts", "32", "--experts-used", "4", "--ff", "256", "--window", "8", "--seed", "5",
                "--reglu-zero", "0.92"])


def cgroup_counter(cg, name):
    with open(os.path.join(cg, name)) as f:
        return int(f.read())
