#!/usr/bin/env python3
"""`run`/`chat --prompt-cache FILE` (issue 19, item 4) through the real binary ($ST_BIN) on a
synthesized tiny-swa model (sliding-window rings and global layers): a second run with the
same prompt evaluates one prompt token and answers exactly as a run without the cache; a
longer prompt reuses the cached prefix; -ro leaves the file alone; a file from another model,
of another KV type, truncated or of another version is refused by name."""
import os
import re
import subprocess
import sys
import tempfile

ST_BIN = os.environ.get("ST_BIN")
passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + what + ("" if ok or not detail else "\n    " + detail[-800:]), flush=True)
    passed += bool(ok)
    failed += not ok


def st(*args, stdin=None):
    return subprocess.run([ST_BIN, *args], capture_output=True, text=True, errors="replace", input=stdin, timeout=120)


def prompt_tokens(r):
    m = re.search(r"prompt: (\d+) tokens", r.stderr)
    return int(m.group(1)) if m else None


def refused(r, *needles):
    return r.returncode not in (0, None) and r.returncode > 0 and all(n in r.stderr for n in needles)


PROMPT = "The quick brown fox jumps over the lazy dog, then keeps on running through the tall grass of the field"


def run_checks(d, model, kv):
    tag = "%s %s" % (os.path.basename(model), " ".join(kv) or "f16")
    cache = os.path.join(d, "c_%d.bin" % len(os.listdir(d)))
    base = ["run", "-m", model, "-n", "12", "--temp", "0", *kv]
    cold = st(*base, "-p", PROMPT)
    n = prompt_tokens(cold)
    check(cold.returncode == 0 and n and n > 40, tag + ": a plain run", cold.stderr)
    first = st(*base, "-p", PROMPT, "--prompt-cache", cache)
    check(first.returncode == 0 and os.path.exists(cache) and "saved %d tokens" % n in first.stderr
          and prompt_tokens(first) == n and first.stdout == cold.stdout, tag + ": the first run writes the cache",
          first.stderr)
    second = st(*base, "-p", PROMPT, "--prompt-cache", cache)
    check(second.returncode == 0 and prompt_tokens(second) == 1 and "reused %d of %d" % (n - 1, n) in second.stderr,
          tag + ": the second run evaluates one prompt token", second.stderr)
    check(second.stdout == cold.stdout, tag + ": ... and answers as a run without the cache",
          repr(second.stdout) + " vs " + repr(cold.stdout))
    longer = PROMPT + " and on to the river"
    before = open(cache, "rb").read()
    ro = st(*base, "-p", longer, "--prompt-cache", cache, "--prompt-cache-ro")
    plain = st(*base, "-p", longer)
    check(ro.returncode == 0 and "reused %d of" % n in ro.stderr and prompt_tokens(ro) == prompt_tokens(plain) - n
          and ro.stdout == plain.stdout, tag + ": a longer prompt reuses the cached prefix", ro.stderr)
    check(open(cache, "rb").read() == before and "saved" not in ro.stderr, tag + ": --prompt-cache-ro leaves the file")
    return cache, n


def main():
    if not ST_BIN:
        print("ST_BIN not set")
        return 1
    with tempfile.TemporaryDirectory() as d:
        f32 = os.path.join(d, "swa.gguf")
        q8 = os.path.join(d, "swa_q8.gguf")
        for path, typ in ((f32, "f32"), (q8, "q8_0")):
            r = st("synth", "--preset", "tiny-swa", "--type", typ, "-o", path)
            assert r.returncode == 0, r.stderr
        cache, n = run_checks(d, f32, [])
        run_checks(d, f32, ["-ctk", "q8_0", "-ctv", "q8_0"])
        run_checks(d, q8, ["-ctk", "q4_0", "-ctv", "bf16"])

        base = ["run", "-n", "4", "--temp", "0", "-p", PROMPT]
        r = st(*base, "-m", q8, "--prompt-cache", cache)
        check(refused(r, cache, "another model", "swa.gguf"), "another quantization of the model is refused", r.stderr)
        r = st(*base, "-m", f32, "--prompt-cache", cache, "-ctk", "q8_0")
        check(refused(r, cache, "-ctk/-ctv"), "another KV type is refused", r.stderr)
        data = open(cache, "rb").read()
        bad = os.path.join(d, "bad.bin")
        open(bad, "wb").write(data[: len(data) // 2])
        r = st(*base, "-m", f32, "--prompt-cache", bad)
        check(refused(r, bad, "truncated"), "a truncated file is refused", r.stderr)
        open(bad, "wb").write(data[:8] + b"\x07" + data[9:])
        r = st(*base, "-m", f32, "--prompt-cache", bad)
        check(refused(r, bad, "format version 7"), "another version is refused", r.stderr)
        open(bad, "wb").write(b"hello, not a cache\n" * 10)
        r = st(*base, "-m", f32, "--prompt-cache", bad)
        check(refused(r, bad, "not a smallthinker prompt cache"), "another kind of file is refused", r.stderr)

        allc = os.path.join(d, "all.bin")
        r = st(*base, "-m", f32, "--prompt-cache", allc, "--prompt-cache-all")
        check(r.returncode == 0 and "saved %d tokens" % (n + 3) in r.stderr,
              "--prompt-cache-all saves the prompt and the evaluated answer", r.stderr)

        # A global-attention model: tiny-swa's rings (window 16) cannot go back to a shared prefix.
        tiny = os.path.join(d, "tiny.gguf")
        assert st("synth", "--preset", "tiny", "-o", tiny).returncode == 0
        chat_cache = os.path.join(d, "chat.bin")
        args = ["chat", "-m", tiny, "-n", "4", "--temp", "0", "--system", "You are terse.", "--prompt-cache", chat_cache]
        c1 = st(*args, stdin="hello there\n")
        c2 = st(*args, stdin="hello again\n")
        m = re.search(r"reused (\d+) of (\d+)", c2.stderr)
        check(c1.returncode == 0 and "saved" in c1.stderr and c2.returncode == 0 and m and int(m.group(1)) > 10
              and int(m.group(1)) < int(m.group(2)), "chat reuses the cached system prompt", c1.stderr + c2.stderr)
        r = st("run", "-m", f32, "-n", "2", "--temp", "0", "-p", "The quick brown cat", "--prompt-cache", cache,
               "--prompt-cache-ro")
        check(r.returncode == 0 and "sliding-window layers cannot go back" in r.stderr and prompt_tokens(r) > 10,
              "a wrapped ring that cannot rewind evaluates the whole prompt", r.stderr)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
