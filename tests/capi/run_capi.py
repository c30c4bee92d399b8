"""Drives tests/capi/capi_test.c (the C API from C99, linked against libsmallthinker.so only)
on a model synthesized here, then checks from outside:
  - each greedy token is the argmax of `smallthinker logits` at its position (numpy);
  - its greedy and seeded-sampling generations equal `smallthinker run` on the same model and
    prompt (an independent path: the CLI links the static library, not the C API);
  - `cmake --install` gives a prefix from which `pkg-config --cflags --libs smallthinker`
    builds and runs the same program;
  - capi_v2_test (API version 2 and misuse) passes, and the text it generated under a JSON
    schema parses with Python's json and validates with jsonschema (Debian's python3-jsonschema);
  - libsmallthinker.so has the soname libsmallthinker.so.<major> and exports only st_* symbols
    (`nm -D --defined-only`), and capi_test needs that library and no C++ layer of ours.
Environment: ST_BIN (the CLI), ST_CAPI_TEST, ST_CAPI_LIB (set by tests/capi/CMakeLists.txt)."""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ST_BIN = os.environ.get("ST_BIN")
CAPI_TEST = os.environ.get("ST_CAPI_TEST")
CAPI_LIB = os.environ.get("ST_CAPI_LIB")
CAPI_V2_TEST = os.environ.get("ST_CAPI_V2_TEST")
SCHEMA = {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}, "ok": {"type": "boolean"}},
          "required": ["colour", "ok"]}  # as kSchema in capi_v2_test.c
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


def check_greedy_tokens(model, ids_file, tmp):
    """Token by token: each greedy token the C API generated is the most likely one in
    `smallthinker logits` (numpy argmax, up to float noise between batched and single-token
    evaluation) at its position."""
    with open(ids_file) as f:
        prompt, gen = [[int(t) for t in line.split(",") if t] for line in f.read().split("\n")[:2]]
    out = os.path.join(tmp, "greedy.f32")
    seq = prompt + gen[:-1]
    r = run([ST_BIN, "logits", "-m", model, "--tokens", ",".join(map(str, seq)), "-o", out, "-c", "512", "-t", "2"])
    check(r.returncode == 0, "smallthinker logits over prompt + generated tokens")
    if r.returncode:
        return
    logits = np.fromfile(out, dtype=np.float32).reshape(len(seq), -1)[len(prompt) - 1:]
    best = logits.max(axis=1)
    chosen = logits[np.arange(len(gen)), gen]
    exact = int((logits.argmax(axis=1) == np.array(gen)).sum())
    check(len(gen) > 0 and bool(np.all(chosen >= best - 1e-3 * (1 + np.abs(best)))),
          "every greedy C API token is the CLI logits' argmax (%d of %d exactly)" % (exact, len(gen)))


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


def check_install(model, tmp):
    """`cmake --install` into a temporary prefix, then build capi_test.c from the installed
    header and library with `pkg-config --cflags --libs smallthinker` alone, and run it."""
    build, cmake = os.environ.get("ST_BUILD_DIR"), os.environ.get("ST_CMAKE", "cmake")
    if os.environ.get("ST_CAPI_SANITIZE") == "1":
        print("skipped: the install check (a plain cc build cannot link the sanitizer-instrumented library)")
        return
    if not build:
        check(False, "ST_BUILD_DIR is set for the install test")
        return
    prefix = os.path.join(tmp, "prefix")
    r = run([cmake, "--install", build, "--prefix", prefix, "--component", "capi"])
    check(r.returncode == 0, "cmake --install --component capi into a temporary prefix")
    pcs = [os.path.join(d, f) for d, _, files in os.walk(prefix) for f in files if f == "smallthinker.pc"]
    check(len(pcs) == 1, "smallthinker.pc is installed")
    if r.returncode or len(pcs) != 1:
        print(r.stderr.decode())
        return
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "smallthinker"], capture_output=True, env=env, text=True)
    check(flags.returncode == 0 and "-lsmallthinker" in flags.stdout, "pkg-config --cflags --libs smallthinker: %s" % flags.stdout.strip())
    exe = os.path.join(tmp, "capi_installed")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capi_test.c")
    cc = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-pthread", "-o", exe, src] + flags.stdout.split(),
                        capture_output=True, text=True)
    check(cc.returncode == 0, "capi_test.c builds against the installed package%s" % (": " + cc.stderr if cc.returncode else ""))
    if cc.returncode:
        return
    libdir = os.path.dirname(os.path.realpath([p for p in flags.stdout.split() if p.startswith("-L")][0][2:] + "/libsmallthinker.so"))
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True, env=env).stdout
    check(os.path.realpath(prefix) in ldd and "libsmallthinker.so" in ldd, "it loads the installed libsmallthinker.so")
    r = subprocess.run([exe, model, PROMPT, "4", os.path.join(tmp, "installed")], capture_output=True, env=env, timeout=300)
    check(r.returncode == 0, "the installed build passes capi_test%s" % ("" if r.returncode == 0 else ":\n" + r.stdout.decode()))


def check_v2(model, tmp):
    import json
    import jsonschema
    out = os.path.join(tmp, "v2")
    r = run([CAPI_V2_TEST, model, out])
    sys.stdout.write(r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace"))
    check(r.returncode == 0, "capi_v2_test passes")
    if not os.path.exists(out + ".json"):
        return
    text = open(out + ".json", "rb").read().decode()
    if os.path.exists(out + ".json.complete"):
        try:
            jsonschema.validate(json.loads(text), SCHEMA)
            ok = True
        except (ValueError, jsonschema.ValidationError) as e:
            ok = False
            print("  %s" % e)
        check(ok, "the schema-constrained generation %r parses and validates (jsonschema)" % text)


def main():
    for name, path in (("ST_BIN", ST_BIN), ("ST_CAPI_TEST", CAPI_TEST), ("ST_CAPI_LIB", CAPI_LIB),
                       ("ST_CAPI_V2_TEST", CAPI_V2_TEST)):
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
    if os.path.exists(out + ".greedy.ids"):
        check_greedy_tokens(model, out + ".greedy.ids", tmp)
    check_v2(model, tmp)
    check_library()
    check_install(model, tmp)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
