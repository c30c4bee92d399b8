#!/usr/bin/python3
"""How every tool writes its output files (issue 18, items 9-12; the policy: src/formats/output_file.h,
README "Output files"), driven through the real binary on a scratch directory.

CHECKS
* 9, what the output path is: a private /dev/full made with mknod (root only) stays a character
  device and the write fails with "disk is full"; a private /dev/null takes any output; a block
  device node is refused; a symbolic link stays a link and the file it points to gets a valid GGUF;
  a directory is refused; `logits -o /dev/stdout` and `logits -o FIFO` write the bytes
  `logits -o FILE` writes.
* 10, the output is an input: quantize, logits, dequant, run --routing-trace, convert, stats and synth --tokenizer-json
  refuse an output that is their input under another spelling (./x, dir/../x), a symbolic link or a
  hard link, with "is the same file as the input", and the input's bytes stay the same.
* 11, signals: synth, quantize and convert of models large enough to take a while are sent SIGINT,
  SIGTERM or SIGHUP once their temporary file has grown past a few MB: the process ends by that
  signal, no "*.tmp.*" file remains and the previous output is byte for byte unchanged.
* 12, full disk: with a file-size limit (RLIMIT_FSIZE, i.e. `ulimit -f`) below the output's size,
  logits, dequant, stats and synth fail with a clear error (exit 1, not killed by SIGXFSZ), the
  previous output is unchanged and no temporary file remains.
Environment: ST_BIN, ST_SOURCE_DIR.  Runs in ~30-60 s.
"""
import hashlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import harness  # noqa: E402
import make_hf_checkpoint as mk  # noqa: E402

PREVIOUS = b"the previous output, which no failed or interrupted write may touch\n"
TOKENS = "3,77,140,9,200,31,45,260,12,99,101,7,66,180,250,5"


def child_setup(fsize_limit=None):
    """For Popen: default signal actions (a background shell may have set SIGINT to ignored), and
    optionally a file-size limit."""
    def setup():
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        if fsize_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))
    return setup


def run(args, fsize_limit=None, timeout=300):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       preexec_fn=child_setup(fsize_limit))
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def temp_files(root):
    found = []
    for d, _, files in os.walk(root):
        found += [os.path.join(d, n) for n in files if ".tmp." in n]
    return found


def write_previous(path):
    with open(path, "wb") as f:
        f.write(PREVIOUS)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def kind(path):
    m = os.lstat(path).st_mode
    return "link" if stat.S_ISLNK(m) else "chr" if stat.S_ISCHR(m) else "file" if stat.S_ISREG(m) else "other"


def make_node(path, minor):
    """A private character device with /dev/null's (1,3) or /dev/full's (1,7) numbers; False if not root."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        return True
    except PermissionError:
        return False


def check_devices_and_links(res, st, tmp, model):
    full, null = os.path.join(tmp, "full"), os.path.join(tmp, "null")
    if make_node(full, 7) and make_node(null, 3):
        check_device_nodes(res, st, model, full, null)
    else:
        print("SKIP the device-node checks: mknod needs root", flush=True)
    check_links_and_streams(res, st, tmp, model)


def check_device_nodes(res, st, model, full, null):
    rc, _, err = run([st, "quantize", model, full, "q8_0", "-t", "2"])
    res.check("9 quantize to a private /dev/full fails: disk is full", rc == 1 and "disk is full" in err, err[-300:])
    res.check("9 the /dev/full node is still a character device", kind(full) == "chr", kind(full))
    rc, _, err = run([st, "logits", "-m", model, "--tokens", TOKENS, "-o", full])
    res.check("9 logits to /dev/full fails: disk is full", rc == 1 and "disk is full" in err, err[-300:])
    rc, _, err = run([st, "synth", "--preset", "tiny", "-o", null])
    res.check("9 synth to a private /dev/null succeeds", rc == 0, err[-300:])
    res.check("9 the /dev/null node is still a character device", kind(null) == "chr", kind(null))
    disk = os.path.join(os.path.dirname(full), "disk")
    os.mknod(disk, 0o600 | stat.S_IFBLK, os.makedev(7, 200))  # a loop device's numbers
    rc, _, err = run([st, "quantize", model, disk, "q8_0", "-t", "2"])
    res.check("9 a block device is refused", rc == 1 and "is a block device" in err, err[-300:])
    res.check("9 the block device node is still one", stat.S_ISBLK(os.lstat(disk).st_mode))


def check_links_and_streams(res, st, tmp, model):
    os.makedirs(os.path.join(tmp, "models"))
    real = os.path.join(tmp, "models", "real.gguf")
    write_previous(real)
    link = os.path.join(tmp, "current.gguf")
    os.symlink("models/real.gguf", link)
    rc, _, err = run([st, "quantize", model, link, "q8_0", "-t", "2"])
    res.check("9 quantize through a symbolic link succeeds", rc == 0, err[-300:])
    res.check("9 the link is still a link to the same name",
              kind(link) == "link" and os.readlink(link) == "models/real.gguf", kind(link))
    res.check("9 the link's target holds the GGUF", read(real)[:4] == b"GGUF", repr(read(real)[:16]))

    folder = os.path.join(tmp, "a-folder")
    os.makedirs(folder)
    rc, _, err = run([st, "synth", "--preset", "tiny", "-o", folder])
    res.check("9 a directory as output is refused", rc == 1 and "is a directory" in err, err[-300:])

    out_file = os.path.join(tmp, "logits.bin")
    rc1, _, err1 = run([st, "logits", "-m", model, "--tokens", TOKENS, "-o", out_file])
    rc2, stdout, err2 = run([st, "logits", "-m", model, "--tokens", TOKENS, "-o", "/dev/stdout"])
    res.check("9 logits -o /dev/stdout writes the bytes logits -o FILE writes",
              rc1 == 0 and rc2 == 0 and len(stdout) > 0 and stdout == read(out_file), err1[-200:] + err2[-200:])
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(read(fifo)))
    reader.start()
    rc, _, err = run([st, "logits", "-m", model, "--tokens", TOKENS, "-o", fifo])
    reader.join(timeout=60)
    res.check("9 logits -o FIFO writes into the pipe and the FIFO stays one",
              rc == 0 and received == [read(out_file)] and stat.S_ISFIFO(os.lstat(fifo).st_mode), err[-200:])
    res.check("9 no temporary file left", not temp_files(tmp), str(temp_files(tmp)))


def refused(res, name, args, protected, tmp):
    before = digest(protected)
    rc, _, err = run(args)
    res.check("10 %s: refused as the same file as the input" % name,
              rc == 1 and "is the same file as the input" in err, "rc=%d %s" % (rc, err[-300:]))
    res.check("10 %s: the input is unchanged" % name, digest(protected) == before)
    res.check("10 %s: no temporary file left" % name, not temp_files(tmp), str(temp_files(tmp)))


def same_file_fixture(tmp, model):
    """A fresh folder per case (a case that wrongly succeeds must not spoil the next): the model m.gguf,
    link.gguf -> m.gguf, hard.gguf (a hard link), sub/, and stats/zero_fraction.csv (another hard link)."""
    d = os.path.join(tmp, "same")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "sub"))
    os.makedirs(os.path.join(d, "stats"))
    m = os.path.join(d, "m.gguf")
    shutil.copy(model, m)
    os.symlink("m.gguf", os.path.join(d, "link.gguf"))
    os.link(m, os.path.join(d, "hard.gguf"))
    os.link(m, os.path.join(d, "stats", "zero_fraction.csv"))
    return d, m


def check_output_is_input(res, st, tmp, model, hf_dir):
    prompts = os.path.join(tmp, "prompts.txt")
    with open(prompts, "w") as f:
        f.write("hello there\n")
    cases = [
        ("quantize IN DIR/sub/../IN", lambda d, m: [st, "quantize", m, os.path.join(d, "sub", "..", "m.gguf"), "q4_0"]),
        ("quantize IN ./IN (relative spelling)", lambda d, m: [st, "quantize", m, "./" + os.path.relpath(m), "q4_0"]),
        ("quantize IN symlink-to-IN", lambda d, m: [st, "quantize", m, os.path.join(d, "link.gguf"), "q4_0"]),
        ("quantize IN hard-link-of-IN", lambda d, m: [st, "quantize", m, os.path.join(d, "hard.gguf"), "q4_0"]),
        ("logits -m IN -o hard link", lambda d, m: [st, "logits", "-m", m, "--tokens", TOKENS, "-o",
                                                    os.path.join(d, "hard.gguf")]),
        ("dequant -m IN -o symlink", lambda d, m: [st, "dequant", "-m", m, "--tensor", "token_embd.weight", "-o",
                                                   os.path.join(d, "link.gguf")]),
        ("run --routing-trace hard link of the model",
         lambda d, m: [st, "run", "-m", m, "-p", "hello", "-n", "2", "--routing-trace", os.path.join(d, "hard.gguf")]),
        ("stats: a report file is a hard link of the model",
         lambda d, m: [st, "stats", m, prompts, "-o", os.path.join(d, "stats")]),
    ]
    for name, args in cases:
        d, m = same_file_fixture(tmp, model)
        refused(res, name, args(d, m), m, d)
    shard = sorted(n for n in os.listdir(hf_dir) if n.endswith(".safetensors"))[0]
    refused(res, "convert -o one of its shards",
            [st, "convert", hf_dir, "-o", os.path.join(hf_dir, ".", shard)], os.path.join(hf_dir, shard), hf_dir)
    tok = os.path.join(hf_dir, "tokenizer.json")
    tok_spelled = os.path.join(hf_dir, "..", os.path.basename(hf_dir), "tokenizer.json")
    refused(res, "synth --tokenizer-json T -o T",
            [st, "synth", "--tokenizer-json", tok, "-o", tok_spelled], tok, hf_dir)


def interrupt(res, name, args, out, sig):
    """Starts the command, waits for its temporary file to grow past 4 MB, sends `sig`."""
    write_previous(out)
    d, base = os.path.dirname(out), os.path.basename(out) + ".tmp."
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=child_setup())
    seen, deadline = None, time.time() + 240
    while seen is None and p.poll() is None and time.time() < deadline:
        for n in os.listdir(d):
            try:
                if n.startswith(base) and os.path.getsize(os.path.join(d, n)) > (4 << 20):
                    seen = n
            except FileNotFoundError:
                pass
        time.sleep(0.002)
    if not res.check("11 %s: caught while writing its temporary file" % name, seen is not None and p.poll() is None):
        p.kill()
        p.wait()
        return
    p.send_signal(sig)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    err = p.stderr.read().decode("utf-8", "replace")
    res.check("11 %s: ended by %s" % (name, signal.Signals(sig).name), rc == -sig, "rc=%s %s" % (rc, err[-200:]))
    left = [n for n in os.listdir(d) if n.startswith(base)]
    res.check("11 %s: no temporary file left" % name, not left, "%s (was %s)" % (left, seen))
    res.check("11 %s: the previous output is unchanged" % name, read(out) == PREVIOUS)


def check_signals(res, st, tmp):
    d = os.path.join(tmp, "signals")
    os.makedirs(d)
    # ~100 MB of f16 experts on one thread: a second or more of writing (4 MB are enough to wait for).
    big = ["--preset", "tiny", "--layers", "4", "--hidden", "512", "--ff", "512", "--experts", "16", "--type", "f16",
           "-t", "1"]
    out = os.path.join(d, "synth.gguf")
    interrupt(res, "synth SIGINT", [st, "synth", *big, "-o", out], out, signal.SIGINT)
    src = os.path.join(d, "src.gguf")
    rc, _, err = run([st, "synth", *big, "-o", src])
    if res.check("11 the quantize input was written", rc == 0, err[-200:]):
        interrupt(res, "quantize SIGTERM", [st, "quantize", src, os.path.join(d, "q.gguf"), "q4_k", "-t", "1"],
                  os.path.join(d, "q.gguf"), signal.SIGTERM)
        os.unlink(src)
    hf = os.path.join(d, "hf")
    shape = dict(mk.SHAPES["tiny-4b"], hidden=512, ff=512, experts=16, layers=4)
    mk.write_checkpoint(hf, shape, n_shards=2)
    interrupt(res, "convert SIGHUP", [st, "convert", hf, "-o", os.path.join(d, "c.gguf"), "--type", "q4_k", "-t", "1"],
              os.path.join(d, "c.gguf"), signal.SIGHUP)


def full_disk(res, name, args, out, limit, tmp, previous_path=None):
    previous_path = previous_path or out
    write_previous(previous_path)
    rc, _, err = run(args, fsize_limit=limit)
    res.check("12 %s over `ulimit -f`: exit 1 with a clear error, not killed by SIGXFSZ" % name,
              rc == 1 and "File too large" in err and "was left as it was" in err, "rc=%d %s" % (rc, err[-300:]))
    res.check("12 %s: the previous output is unchanged" % name, read(previous_path) == PREVIOUS)
    res.check("12 %s: no temporary file left" % name, not temp_files(tmp), str(temp_files(tmp)))
    for t in temp_files(tmp):  # the next case counts only its own
        os.unlink(t)


def check_full_disk(res, st, tmp, model):
    d = os.path.join(tmp, "full-disk")
    os.makedirs(d)
    out = os.path.join(d, "out.bin")
    full_disk(res, "logits", [st, "logits", "-m", model, "--tokens", TOKENS, "-o", out], out, 4096, d)
    full_disk(res, "dequant", [st, "dequant", "-m", model, "--tensor", "token_embd.weight", "-o", out], out, 4096, d)
    full_disk(res, "synth", [st, "synth", "--preset", "tiny", "-o", out], out, 1 << 20, d)
    prompts = os.path.join(d, "prompts.txt")
    with open(prompts, "w") as f:
        f.write("In the beginning\n\nwhat is 2 + 2\n")
    report = os.path.join(d, "report")
    os.makedirs(report)
    full_disk(res, "stats", [st, "stats", model, prompts, "-o", report], report, 512, d,
              previous_path=os.path.join(report, "stats.json"))
    # Without the limit the same commands succeed and replace the previous output.
    rc, _, err = run([st, "logits", "-m", model, "--tokens", TOKENS, "-o", out])
    res.check("12 logits without the limit replaces the previous output",
              rc == 0 and len(read(out)) == 4 * 16 * 512, "rc=%d size=%d %s" % (rc, len(read(out)), err[-200:]))


def main():
    res = harness.Results("output files")
    st = harness.st_bin(res)
    if st is None:
        res.finish()
    tmp = harness.tmpdir()
    try:
        model = os.path.join(tmp, "m.gguf")
        rc, _, err = run([st, "synth", "--preset", "tiny", "--vocab", "512", "-o", model])
        if res.check("tiny model written", rc == 0, err[-300:]):
            hf = os.path.join(tmp, "hf-tiny")
            mk.write_checkpoint(hf, mk.SHAPES["tiny-4b"], n_shards=2)
            res.run("devices and links", check_devices_and_links, res, st, tmp, model)
            res.run("output is an input", check_output_is_input, res, st, tmp, model, hf)
            res.run("full disk", check_full_disk, res, st, tmp, model)
            res.run("signals", check_signals, res, st, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.finish()


if __name__ == "__main__":
    main()
