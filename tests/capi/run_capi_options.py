#!/usr/bin/env python3
"""The C API accepts and refuses option values exactly as the CLI does, with the same message
(issue 18, item 16: one validation of sampling, session and model options for every front end).
Before, the C API had its own checks: repeat_penalty 0 refused there but accepted by the server,
n_predict -1 refused there but "no limit" in the CLI, negative temperatures "greedy" there but
refused by the CLI and the server, and other messages.

Each value goes through capi_options_test (C99, libsmallthinker.so) and through `smallthinker
run` on the same synthesized model: both must accept, or both refuse with the same message after
the option's name ("st_sampling_params.top_p must be ..." vs "--top-p must be ...").
Environment: ST_BIN, ST_CAPI_OPTIONS_TEST (set by tests/capi/CMakeLists.txt)."""
import os
import shutil
import subprocess
import sys
import tempfile

ST_BIN = os.environ["ST_BIN"]
CAPI = os.environ["ST_CAPI_OPTIONS_TEST"]
CTX = "64"
SHAPE = ["--hidden", "64", "--heads", "2", "--heads-kv", "1", "--head-dim", "32", "--experts", "4",
         "--experts-used", "2", "--ff", "64", "--layers", "2"]

SAMPLING_FLAGS = {"temperature": "--temp", "top_k": "--top-k", "top_p": "--top-p", "min_p": "--min-p",
                  "repeat_penalty": "--repeat-penalty", "repeat_last_n": "--repeat-last-n",
                  "presence_penalty": "--presence-penalty", "frequency_penalty": "--frequency-penalty"}
# (C API kind, field, value); each becomes one `smallthinker run` too.
CASES = [("sampling", "temperature", v) for v in ("-1", "nan", "0", "10", "10.5")] + \
        [("sampling", "top_k", v) for v in ("-3", "0", "40")] + \
        [("sampling", "top_p", v) for v in ("-0.1", "0", "1", "2")] + \
        [("sampling", "min_p", v) for v in ("1.5", "0")] + \
        [("sampling", "repeat_penalty", v) for v in ("0", "-1", "1", "1.1", "10", "11")] + \
        [("sampling", "repeat_last_n", v) for v in ("-1", "0")] + \
        [("sampling", "presence_penalty", v) for v in ("3", "-2")] + \
        [("sampling", "frequency_penalty", v) for v in ("2.5", "-2")] + \
        [("generate", "n_predict", v) for v in ("-2", "-1", "0", "3")] + \
        [("model", "n_threads", v) for v in ("-2", "0", "2")] + \
        [("model", "n_ctx", v) for v in ("-5", "16777217")] + \
        [("session", "n_ctx", v) for v in ("-5", "0")] + \
        [("session", "n_batch", v) for v in ("0", "-1", "1")]

failures = []


def check(ok, what, detail=""):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok or not detail else "\n    " + detail))
    if not ok:
        failures.append(what)


def cli_args(kind, field, value):
    base = ["run", "-m", "MODEL", "--tokens", "1,2", "-c", CTX, "-t", "1", "-s", "1"]
    if kind == "sampling":
        return base + (["--temp", "0"] if field != "temperature" else []) + ["-n", "1", SAMPLING_FLAGS[field], value]
    flag = {"n_predict": "-n", "n_threads": "-t", "n_ctx": "-c", "n_batch": "-b"}[field]
    args = base + ["--temp", "0"] + ([] if field == "n_predict" else ["-n", "1"])
    if flag in args:  # replace the default given above
        args[args.index(flag) + 1] = value
        return args
    return args + [flag, value]


def message_after_name(text):
    """'error: --top-p must be ...' and 'st_sampling_params.top_p must be ...' -> 'must be ...'."""
    text = text.strip()
    if text.startswith("error: "):
        text = text[len("error: "):]
    return text.split(" ", 1)[1] if " " in text else text


def main():
    tmp = tempfile.mkdtemp(prefix="st_capi_options_")
    try:
        model = os.path.join(tmp, "m.gguf")
        r = subprocess.run([ST_BIN, "synth", "-o", model, *SHAPE], capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "synth a small model", r.stderr)
        if r.returncode:
            return 1
        lines = "".join("%s %s %s\n" % c for c in CASES)
        r = subprocess.run([CAPI, model, CTX], input=lines, capture_output=True, text=True, timeout=300)
        capi = r.stdout.splitlines()
        check(r.returncode == 0 and len(capi) == len(CASES), "capi_options_test answers every case", r.stderr + r.stdout)
        for (kind, field, value), c in zip(CASES, capi):
            args = [a if a != "MODEL" else model for a in cli_args(kind, field, value)]
            cli = subprocess.run([ST_BIN, *args], capture_output=True, text=True, timeout=120)
            cli_error = [l for l in cli.stderr.splitlines() if l.startswith("error: ")]
            what = "%s %s = %s" % (kind, field, value)
            if c == "ok":
                check(cli.returncode == 0, "%s: accepted by both" % what, "CLI: " + cli.stderr.strip())
                continue
            _, status, message = (c.split("\t", 2) + ["", ""])[:3]
            same = (cli.returncode != 0 and status == "1" and len(cli_error) == 1 and
                    message_after_name(cli_error[0]) == message_after_name(message))
            check(same, "%s: refused by both, the same message (%s)" % (what, message),
                  "C API: status %s %r; CLI: exit %s %r" % (status, message, cli.returncode, cli.stderr.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d cases, %d failed" % (len(CASES), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
