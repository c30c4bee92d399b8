#!/usr/bin/env python3
"""The CLI refuses bad values and bad files clearly instead of running silently wrong, hanging or
crashing (issue 18, items 8 and 13-17), and takes pasted llama.cpp command lines. Drives the real
binary ($ST_BIN) on tiny synthetic models; bad metadata is written with the independent GGUF
writer of tests/reference (gguf.py)."""
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ST_BIN = os.environ.get("ST_BIN")
SRC = os.environ.get("ST_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "reference"))
import gguf  # noqa: E402

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + what + ("" if ok or not detail else "\n    " + detail[-600:]), flush=True)
    passed += bool(ok)
    failed += not ok


def st(*args, stdin=None, timeout=120):
    try:
        return subprocess.run([ST_BIN, *args], capture_output=True, text=True, errors="replace", input=stdin,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, "timeout", "", "timed out after %d s" % timeout)


def refused(r, *needles):
    """A non-zero exit, no crash, and stderr naming every needle."""
    return (isinstance(r.returncode, int) and r.returncode > 0 and "terminate called" not in r.stderr
            and all(n in r.stderr for n in needles))


SHAPE = ["--hidden", "64", "--heads", "2", "--heads-kv", "1", "--head-dim", "32", "--experts", "4",
         "--experts-used", "2", "--ff", "64"]
SMALL = SHAPE + ["--layers", "4"]


def rewrite(src, dst, meta=None, nan_tensor=None):
    """Copies a GGUF file with metadata values replaced ({key: (value, type)}) and, optionally,
    the first element of one float32 tensor set to NaN."""
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(version=r.version)
    for key, value in r.metadata.items():
        vt, et = r.metadata_types[key]
        if meta and key in meta:
            value, vt = meta[key]
        w.add(key, value, vt, et)
    for name in r.tensor_order:
        ti = r.tensors[name]
        data = bytearray(r.raw(name))
        if name == nan_tensor:
            data[0:4] = struct.pack("<f", float("nan"))
        w.add_tensor(name, ti.ne, ti.type, bytes(data))
    w.write(dst)


def test_metadata(tmp, model):
    # 13: rope.freq_base -1, 0, NaN made every logit NaN; `run` printed nothing and exited 0.
    for bad in (-1.0, 0.0, float("nan")):
        p = os.path.join(tmp, "rope_%s.gguf" % bad)
        rewrite(model, p, {"smallthinker.rope.freq_base": (bad, gguf.FLOAT32)})
        r = st("run", "-m", p, "--tokens", "1,2,3", "-n", "4")
        check(refused(r, p, "rope.freq_base", "out of range"), "rope.freq_base = %s is refused naming the key" % bad,
              r.stderr)
        r = st("inspect", "--check", p)
        check(r.returncode == 1 and "rope.freq_base" in r.stderr, "inspect --check fails on rope.freq_base = %s" % bad,
              r.stdout + r.stderr)
    # 13: a NaN that only shows in the forward pass (a weight) is an error naming the file.
    p = os.path.join(tmp, "nan_weight.gguf")
    rewrite(model, p, nan_tensor="output_norm.weight")
    r = st("run", "-m", p, "--tokens", "1,2,3", "-n", "4")
    check(refused(r, p, "non-finite logit"), "NaN logits from a NaN weight are an error naming the model", r.stderr)

    # 14: sliding_window_pattern's default 4 failed "out of range" on 2-layer models without the key.
    p = os.path.join(tmp, "two_layers_swa.gguf")
    r = st("synth", "-o", p, "--preset", "tiny-swa", "--window", "8", *SHAPE, "--layers", "2")
    check(r.returncode == 0, "synth a 2-layer sliding-window model", r.stderr)
    r = st("run", "-m", p, "--tokens", "1,2,3", "-n", "2")
    check(r.returncode == 0, "a 2-layer model without sliding_window_pattern runs", r.stderr)
    bad = os.path.join(tmp, "pattern_9.gguf")
    r0 = gguf.GGUFReader(p)
    w = gguf.GGUFWriter(version=r0.version)
    for key, value in r0.metadata.items():
        w.add(key, value, *r0.metadata_types[key])
    w.add("smallthinker.attention.sliding_window_pattern", 9, gguf.UINT32)
    for name in r0.tensor_order:
        ti = r0.tensors[name]
        w.add_tensor(name, ti.ne, ti.type, bytes(r0.raw(name)))
    w.write(bad)
    r = st("run", "-m", bad, "--tokens", "1,2,3", "-n", "2")
    check(refused(r, "sliding_window_pattern = 9 is out of range"), "a given pattern out of range is still refused",
          r.stderr)


def test_inspect(tmp, model):
    # 15: inspect exited 0 with a warning on files that cannot run.
    p = os.path.join(tmp, "no_experts.gguf")
    rewrite(model, p, {"smallthinker.expert_count": (0, gguf.UINT32)})
    r = st("inspect", p)
    check(r.returncode == 1 and "not a runnable SmallThinker model" in r.stderr and "tensors (" in r.stdout,
          "inspect prints the report and exits 1 on an unrunnable file", "rc=%s %s" % (r.returncode, r.stderr))
    r = st("inspect", "--check", model)
    check(r.returncode == 0 and "ok" in r.stdout and len(r.stdout.splitlines()) == 1,
          "inspect --check prints one line and exits 0 on a runnable file", r.stdout + r.stderr)
    r = st("inspect", model)
    check(r.returncode == 0, "inspect exits 0 on a runnable file", r.stderr)
    r = st("inspect", model, "-c", "-5", "--memory", "1GiB")
    check(refused(r, "-c/--ctx-size"), "inspect -c -5 is refused (it planned a 16 EiB KV cache)", r.stdout + r.stderr)


def test_values(tmp, model):
    # 16: -n -1 generated nothing; llama.cpp's meaning is "no limit".
    r = st("run", "-m", model, "--tokens", "1,2,3", "-n", "-1", "-c", "40", "--temp", "0")
    m = re.search(r"generation: (\d+) tokens", r.stderr)
    check(r.returncode == 0 and m and int(m.group(1)) > 0, "-n -1 generates until a stop token or the context",
          r.stderr)
    check(refused(st("run", "-m", model, "--tokens", "1", "-n", "-2"), "-n/--n-predict"), "-n -2 is refused")
    for args, flag in ((["-c", "-5"], "-c/--ctx-size"), (["--temp", "nan"], "--temp"), (["--temp", "-1"], "--temp"),
                       (["--top-p", "2"], "--top-p"), (["--top-k", "-3"], "--top-k"), (["--window", "-1"], "--window"),
                       (["--min-p", "1.5"], "--min-p"), (["-b", "0"], "-b/--batch-size"), (["-t", "-2"], "-t/--threads")):
        r = st("run", "-m", model, "--tokens", "1,2", "-n", "1", *args)
        check(refused(r, flag), "run %s is refused naming %s" % (" ".join(args), flag), r.stderr)
    r = st("run", "-m", model, "--tokens", "1,2", "-n", "1", "-t", "1000")
    check(r.returncode == 0 and "hardware threads" in r.stderr, "-t 1000 is capped with a note", r.stderr)

    out = os.path.join(tmp, "never.gguf")
    for args, flag in ((["--experts", "0"], "--experts"), (["--layers", "0"], "--layers"),
                       (["--hidden", "1099511627776"], "--hidden")):
        r = st("synth", "-o", out, *args)
        check(refused(r, flag) and not os.path.exists(out), "synth %s is refused" % " ".join(args), r.stderr)

    # Files that cannot be models fail at once with their kind named (a FIFO hung for ever).
    fifo = os.path.join(tmp, "model.fifo")
    os.mkfifo(fifo)
    empty = os.path.join(tmp, "empty.gguf")
    open(empty, "w").close()
    for path, kind in ((fifo, "FIFO"), (tmp, "directory"), ("/dev/null", "device"), (empty, "empty")):
        r = st("run", "-m", path, "--tokens", "1", timeout=30)
        check(refused(r, path, kind), "-m %s fails fast: %s" % (kind, r.stderr.strip()), r.stderr)
    r = st("perplexity", model, tmp, timeout=30)
    check(refused(r, "is a directory"), "perplexity MODEL DIR names the directory (it said '0 tokens')", r.stderr)
    for args, needle in ((["stats", model, tmp, "-o", os.path.join(tmp, "stats")], "is a directory"),
                         (["eval", model, tmp], "not a regular file"), (["tokenize", "-m", model, "-f", tmp], "is a directory"),
                         (["run", "-m", model, "-f", fifo, "-n", "1"], "FIFO")):
        r = st(*args, timeout=30)
        check(refused(r, needle), "%s names a directory or FIFO given as its input" % args[0], r.stderr)


def test_llama_flags(tmp, model):
    # 17: llama.cpp's single-dash multi-letter flags were split into one-letter ones.
    r = st("run", "-m", model, "--tokens", "1,2", "-n", "2", "-ngl", "99", "-fa", "--no-mmap", "--mlock")
    check(r.returncode == 0 and "-ngl 99: ignored" in r.stderr and "-fa: ignored" in r.stderr,
          "run -ngl 99 -fa --no-mmap --mlock runs, with notes", r.stderr)
    r = st("run", "-m", model, "-p", "hi", "-n", "2", "-sys", "You are brief.", "--verbose-prompt", "--temp", "0")
    ids = re.search(r"prompt: \d+ tokens:([ \d]+)", r.stderr)
    chat = st("run", "-m", model, "-p", "hi", "-n", "2", "--system", "You are brief.", "--chat", "--verbose-prompt",
              "--temp", "0")
    ids_chat = re.search(r"prompt: \d+ tokens:([ \d]+)", chat.stderr)
    check(r.returncode == 0 and ids and ids_chat and ids.group(1) == ids_chat.group(1),
          "-sys is the system prompt in the chat template", r.stderr + chat.stderr)
    r = st("run", "-m", model, "-f", "-", "-n", "1", "--verbose-prompt", stdin="abc def")
    direct = st("run", "-m", model, "-p", "abc def", "-n", "1", "--verbose-prompt")
    prompt_ids = re.compile(r"prompt: \d+ tokens:[ \d]+")
    check(r.returncode == 0 and prompt_ids.search(r.stderr) and
          prompt_ids.search(r.stderr).group(0) == prompt_ids.search(direct.stderr).group(0),
          "-f - reads the prompt from stdin", r.stderr + direct.stderr)
    r = st("-m", model, "--tokens", "1,2", "-n", "1")
    check(r.returncode == 0 and "running `smallthinker run`" in r.stderr, "no command: run is assumed", r.stderr)
    r = st("--version")
    check(r.returncode == 0 and re.match(r"smallthinker \d+\.\d+", r.stdout), "--version", r.stdout + r.stderr)
    r = st("run", "-m", model, "-cnv", "-p", "Be brief.", "-n", "2", stdin="hello\n")
    check(r.returncode == 0 and "smallthinker chat" in r.stderr, "-cnv runs chat (reading stdin)", r.stderr)
    r = st("run", "-m", model, "--tokens", "1", "-hf", "org/model")
    check(refused(r, "-hf", "-m FILE"), "-hf is refused naming the alternative", r.stderr)
    r = st("run", "-m", model, "--tokens", "1", "-n", "1", "-ctk", "q8_0", "-ctv", "q4_0")
    check(r.returncode == 0, "-ctk q8_0 -ctv q4_0 are llama.cpp's KV cache types", r.stderr)
    r = st("run", "-m", model, "--tokens", "1", "-ctk", "q5_1")
    check(refused(r, "q5_1", "q8_0"), "-ctk q5_1 is refused naming the KV types", r.stderr)
    r = st("serve", "-m", model, "-sys", "x")
    check(refused(r, "-sys", "--system", "serve"), "-sys where the command has no system prompt is named", r.stderr)

    # Any other single-dash word was still split by CLI11: -st -> "--seed = t", -to -> "--threads = o".
    r = st("run", "-m", model, "-p", "hi", "-n", "2", "-st", "--verbose-prompt", "--temp", "0")
    ids_st = re.search(r"prompt: \d+ tokens:([ \d]+)", r.stderr)
    chat = st("run", "-m", model, "-p", "hi", "-n", "2", "--chat", "--verbose-prompt", "--temp", "0")
    ids_chat = re.search(r"prompt: \d+ tokens:([ \d]+)", chat.stderr)
    check(r.returncode == 0 and "-st:" in r.stderr and ids_st and ids_chat and ids_st.group(1) == ids_chat.group(1),
          "-st (single turn) is run --chat: the prompt in the chat template, one answer", r.stderr)
    r = st("run", "-m", model, "-cnv", "-st", "-p", "hi", "-n", "2", "--verbose-prompt", "--temp", "0")
    ids_cnv = re.search(r"prompt: \d+ tokens:([ \d]+)", r.stderr)
    check(r.returncode == 0 and ids_cnv and ids_chat and ids_cnv.group(1) == ids_chat.group(1),
          "-cnv -st -p: one turn with -p as the user's message (run --chat, not chat)", r.stderr)
    check(refused(st("chat", "-m", model, "-st"), "-st", "run --chat"), "chat -st names run --chat")
    r = st("serve", "-m", model, "-to", "60", "-b", "0")
    check(refused(r, "-to is --read-timeout", "-b/--batch-size"), "serve -to 60 is --read-timeout (then -b 0 is refused)",
          r.stderr)
    r = st("serve", "-m", model, "-to", "0")
    check(refused(r, "--read-timeout"), "serve -to 0 is checked as --read-timeout", r.stderr)
    check(refused(st("run", "-m", model, "--tokens", "1", "-to", "60"), "-to", "--read-timeout", "run"),
          "run -to names --read-timeout, which run does not take")
    r = st("run", "-m", model, "--tokens", "1", "-n", "1", "-ot", "exps=CPU", "-kvu")
    check(r.returncode == 0 and "-ot exps=CPU: ignored" in r.stderr and "-kvu: ignored" in r.stderr,
          "-ot PATTERN and -kvu run, with notes", r.stderr)
    for cmd, word in (("run", "-xyz"), ("serve", "-qq"), ("perplexity", "-abc"), ("bench", "-pg")):
        r = st(cmd, "-m", model, word, "1")
        check(refused(r, word + " is not an option of `smallthinker " + cmd) and "Could not convert" not in r.stderr,
              "%s %s (unknown single-dash word) is refused naming it, not split" % (cmd, word), r.stderr)
    r = st("run", "-m", model, "-pHello")
    check(refused(r, "-pHello", "-p Hello"), "-pHello is refused, suggesting -p Hello", r.stderr)
    r = st("run", "-m", model, "--tokens", "1", "-n", "-1", "-c", "8")
    check(r.returncode == 0, "negative numbers are values, not words", r.stderr)

    # --version after a subcommand said "--model is required".
    for args in (["run", "--version"], ["serve", "-m", model, "--version"], ["perplexity", "--version"]):
        r = st(*args)
        check(r.returncode == 0 and re.match(r"smallthinker \d+\.\d+", r.stdout), " ".join(args[:1] + args[-1:]) + " prints the version",
              r.stdout + r.stderr)

    # llama-perplexity's -f FILE (the positional TEXT_FILE stays).
    text = os.path.join(tmp, "ppl.txt")
    with open(text, "w") as f:
        f.write("the quick brown fox jumps over the lazy dog. " * 40)
    finals = []
    for args in (["-m", model, "-f", text], [model, "-f", text], [model, text], ["-m", model, "--file", text]):
        r = st("perplexity", *args, "-c", "32", "--chunks", "2")
        m = re.search(r"Final estimate: PPL = ([\d.]+)", r.stdout)
        check(r.returncode == 0 and m, "perplexity %s" % " ".join(a if a not in (model, text) else os.path.basename(a) for a in args),
              r.stderr)
        finals.append(m.group(1) if m else None)
    check(len(set(finals)) == 1 and finals[0], "every spelling of the text file gives the same perplexity", str(finals))
    check(refused(st("perplexity", "-m", model, "-f", text, text), "usage"), "a text file both by -f and positionally: usage")

    # Progress in logs: plain lines, no carriage returns (bytes: text mode would translate them).
    r = subprocess.run([ST_BIN, "synth", "-o", os.path.join(tmp, "p.gguf"), *SMALL], capture_output=True, timeout=120)
    check(r.returncode == 0 and b"\r" not in r.stderr and b"synth: " in r.stderr, "synth progress in a pipe has no \\r",
          repr(r.stderr[:300]))


def test_deep_json_files(tmp, model):
    """JSON files the CLI reads (an eval task, a tokenizer_config.json chat template) nested
    100,000 deep: a clear error naming the file, not a stack overflow."""
    deep = "[" * 100000 + "]" * 100000
    task = os.path.join(tmp, "deep.jsonl")
    with open(task, "w") as f:
        f.write('{"question": %s}\n' % deep)
    r = st("eval", model, task)
    check(refused(r, task + " line 1", "deeper than 64"), "eval: a 100,000-deep task line is refused by name", r.stderr)
    config = os.path.join(tmp, "tokenizer_config.json")
    with open(config, "w") as f:
        f.write('{"chat_template": %s}' % deep)
    r = st("run", "-m", model, "--chat-template", config, "-p", "hi", "-n", "1")
    check(refused(r, "--chat-template " + config, "deeper than 64"), "--chat-template: a 100,000-deep JSON file is refused by name",
          r.stderr)


def test_truncated_while_serving(tmp, model):
    # 8: truncating the model under a running in-RAM server killed it with SIGBUS at the next request.
    path = os.path.join(tmp, "served.gguf")
    shutil.copy(model, path)
    p = subprocess.Popen([ST_BIN, "serve", "-m", path, "--port", "0", "-c", "64"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="replace")
    lines = []
    port = None
    timer = threading.Timer(120, p.kill)
    timer.start()
    for line in p.stderr:
        lines.append(line)
        m = re.search(r"listening on http://[^:]+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    timer.cancel()
    check(port is not None, "serve starts on a synthetic f32 model (its weights stay mapped)", "".join(lines))
    if port is None:
        p.kill()
        return
    os.truncate(path, 4096)
    body = json.dumps({"prompt": "hello", "max_tokens": 4}).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/v1/completions" % port, data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=60).read()
    except Exception:
        pass  # the server is expected to end
    try:
        rest = p.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        rest = p.communicate()[1]
    check(p.returncode == 1 and path in rest and "changed while in use" in rest,
          "the server ends with status 1 and a message naming the file (not SIGBUS: %s)" % p.returncode, rest)


def main():
    tmp = tempfile.mkdtemp(prefix="st_cli_validation_")
    try:
        model = os.path.join(tmp, "m.gguf")
        r = st("synth", "-o", model, *SMALL)
        check(r.returncode == 0, "synth a small f32 model", r.stderr)
        if r.returncode != 0:
            return 1
        test_metadata(tmp, model)
        test_inspect(tmp, model)
        test_values(tmp, model)
        test_llama_flags(tmp, model)
        test_deep_json_files(tmp, model)
        test_truncated_while_serving(tmp, model)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if not ST_BIN or not os.path.exists(ST_BIN):
        print("FAIL: ST_BIN is not set")
        sys.exit(1)
    sys.exit(main())
