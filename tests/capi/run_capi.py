"""Drives tests/capi/capi_test.c (the C API from C99, linked against libsmallthinker.so only)
on a model synthesized here, then checks from outside:
  - its greedy and seeded-sampling generations equal `smallthinker run` on the same model and
    prompt (an independent path: the CLI links the static library, not the C API);
  - libsmallthinker.so has the soname libsmallthinker.so.<major> and exports only st_* symbols
    (`nm -D --defined-only`), and capi_test needs that library and no C++ layer of ours.
Environment: ST_BIN (the CLI), ST_CAPI_TEST, ST_CAPI_LIB (set by tests/capi/CMakeLists.txt)."""
import os
import re
import subprocess
import sys
import tempfile

ST_BIN = os.environ.get("ST_BIN")
CAPI_TEST = os.environ.get("ST_CAPI_TEST")
CAPI_LIB = os.environ.get("ST_CAPI_LIB")
PROMPT = "Once upon a time"
N_PREDICT = 24
SAMPLED = ["--temp", "0.9", "--top-k", "20", "--top-p", "0.9", "--min-p", "0.02", "--repeat-penalty", "1.1", "-s", "7"]
failures = []


def check(ok, what):
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, timeout=300)


def cli_generation(model, sampling):
    r = run([ST_BIN, "run", "-m", model, "-p", PROMPT, "-n", str(N_PREDICT), "-c", "512", "-t", "2"] + sampling)
    check(r.returncode == 0, "smallthinker run %s exits 0" % " ".join(sampling))
    return r.stdout


def same_generation(cli_out, capi_text, what):
    """The CLI prints the prompt, the streamed text and a newline; at the very end it also
    flushes a character left unfinished (as U+FFFD), which the C API's callback never sees."""
    prefix = PROMPT.encode() + capi_text
    tail = cli_out[len(prefix):] if cli_out.startswith(prefix) else None
    ok = len(capi_text) > 0 and tail is not None and re.fullmatch(rb"(\xef\xbf\xbd)*\n", tail) is not None
    check(ok, "%s: the C API's text equals `smallthinker run`'s (%d bytes)" % (what, len(capi_text)))
    if not ok:
        print("  cli:  %r\n  capi: %r" % (cli_out, PROMPT.encode() + capi_text))


def check_library():
    r = run(["nm", "-D", "--defined-only", CAPI_LIB])
    names = [line.split()[-1] for line in r.stdout.decode().splitlines() if line.strip()]
    others = [n for n in names if not n.startswith("st_")]
    check(r.returncode == 0 and "st_model_load" in names and "st_session_generate" in names,
          "nm -D lists the C API (%d symbols)" % len(names))
    check(not others, "libsmallthinker.so exports only st_* symbols%s" % ("" if not others else ": also %s" % others[:10]))
    dyn = run(["readelf", "-d", CAPI_LIB]).stdout.decode()
    check(re.search(r"\(SONAME\).*\[libsmallthinker\.so\.\d+\]", dyn) is not None, "the library has a soname libsmallthinker.so.N")
    needed = run(["readelf", "-d", CAPI_TEST]).stdout.decode()
    check(re.search(r"\(NEEDED\).*\[libsmallthinker\.so\.\d+\]", needed) is not None, "capi_test loads libsmallthinker.so.N")
    syms = run(["nm", CAPI_TEST]).stdout.decode()
    check("smallthinker" not in re.sub(r"\bst_\w+", "", syms), "capi_test links no C++ symbol of the engine")


def main():
    for name, path in (("ST_BIN", ST_BIN), ("ST_CAPI_TEST", CAPI_TEST), ("ST_CAPI_LIB", CAPI_LIB)):
        if not path or not os.path.exists(path):
            print("FAIL: %s is not set to an existing file (%r)" % (name, path))
            return 1
    tmp = tempfile.mkdtemp(prefix="st_capi_")
    model = os.path.join(tmp, "tiny.gguf")
    r = run([ST_BIN, "synth", "-o", model, "--preset", "tiny", "--seed", "11"])
    check(r.returncode == 0, "synth a tiny model")
    if r.returncode:
        print(r.stderr.decode())
        return 1
    out = os.path.join(tmp, "capi")
    r = run([CAPI_TEST, model, PROMPT, str(N_PREDICT), out])
    sys.stdout.write(r.stdout.decode(errors="replace"))
    sys.stdout.write(r.stderr.decode(errors="replace"))
    check(r.returncode == 0, "capi_test passes")
    if os.path.exists(out + ".greedy"):
        with open(out + ".greedy", "rb") as f:
            same_generation(cli_generation(model, ["--temp", "0"]), f.read(), "greedy")
    if os.path.exists(out + ".sampled"):
        with open(out + ".sampled", "rb") as f:
            same_generation(cli_generation(model, SAMPLED), f.read(), "seeded sampling")
    check_library()
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
