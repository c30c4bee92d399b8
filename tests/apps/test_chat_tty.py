#!/usr/bin/python3
"""`smallthinker chat` end to end, driving the real binary through a pseudo-terminal.

A random-weight model (`synth --preset tiny-swa`, byte vocabulary with ChatML specials) talks
gibberish, so the checks are about the loop, not the words:
  1. two turns on a terminal; /stats shows the context grew and that the second turn evaluated
     only the continuation tokens (its prompt count equals the tokenized ChatML continuation,
     plus at most the one token left pending by -n), reusing exactly the first turn's cache;
     /reset empties the context; /help and unknown commands; /exit exits 0.
  2. a long answer (-n 100000, large -c) streams, Ctrl-C stops it and the prompt returns with
     the process alive; the chat goes on; Ctrl-C drops a typed line; Ctrl-C on an empty
     prompt exits 0.
  3. piped stdin (no terminal): plain line reading, a context too small for the second turn is
     reported (not a crash), /reset recovers, end of input exits 0.
Environment: ST_BIN = the smallthinker binary. Prints "N passed, M failed"; exits 1 on failure.
"""
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time

PROMPT = "you> "
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78])")


class Timeout(Exception):
    pass


class Chat:
    """The binary on the slave side of a pty; reads the master with select() and deadlines."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            env = dict(os.environ, TERM="xterm", LANG="C.UTF-8", LC_ALL="C.UTF-8")
            try:
                os.execve(args[0], args, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.out = ""   # everything read, escape sequences removed
        self.pos = 0    # where the next expect() starts looking
        self.status = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if not data:
            raise Timeout("the program closed its terminal")
        self.out += ANSI.sub("", data.decode("utf-8", "replace")).replace("\r", "")
        return True

    def expect(self, pattern, timeout=60):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.out, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no %r within %ss; last output: %r" % (pattern, timeout, self.out[-300:]))
            self._read(left)

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self._read(deadline - time.monotonic())
            except Timeout:
                return

    def send(self, text):
        os.write(self.fd, text.encode())

    def line(self, text, end="\r"):
        """Types at the prompt once libedit owns the terminal. It prints the prompt before it
        leaves canonical mode, and text typed in between is echoed twice (kernel, then libedit).
        On Linux, tcgetattr() on the master reports the slave's modes."""
        deadline = time.monotonic() + 10
        while termios.tcgetattr(self.fd)[3] & termios.ICANON and time.monotonic() < deadline:
            time.sleep(0.01)
        self.send(text + end)

    def alive(self):
        if self.status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.status = status
        return False

    def wait_exit(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            self.drain(0.1)
        if self.alive():
            return None
        return os.waitstatus_to_exitcode(self.status)

    def kill(self):
        if self.alive():
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


class Results:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        print("%s %s%s" % ("PASS" if ok else "FAIL", name, (": " + detail) if detail else ""), flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def stats(chat):
    chat.line("/stats")
    m = chat.expect(r"context: (\d+) / (\d+) tokens, (\d+) turns\n")
    ctx, turns = int(m.group(1)), int(m.group(3))
    last = None
    if turns:
        m = chat.expect(r"last turn: prompt (\d+) tokens \((\d+) reused from the KV cache\) at [0-9.]+ tok/s; "
                        r"answer (\d+) tokens")
        last = tuple(int(g) for g in m.groups())
    chat.expect(PROMPT)
    return ctx, turns, last


def turn(chat, text, timeout=120):
    chat.line(text)
    chat.expect(re.escape(text) + r"\n")  # the echo of the line
    start = chat.pos
    chat.expect(r"\n" + PROMPT, timeout)
    return chat.out[start:chat.pos - len(PROMPT)]


def n_tokens(st, model, text):
    out = subprocess.run([st, "tokenize", "-m", model, "-p", text, "--ids"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return len(re.findall(r"\d+", out))


def two_turns(res, st, model):
    chat = Chat([st, "chat", "-m", model, "-n", "24", "-c", "2048", "-s", "1"])
    try:
        chat.expect(PROMPT, 60)
        ctx0, turns0, _ = stats(chat)
        res.check("empty context at start", ctx0 == 0 and turns0 == 0, "ctx %d turns %d" % (ctx0, turns0))

        turn(chat, "hello there")
        ctx1, turns1, last1 = stats(chat)
        res.check("first turn fills the context", turns1 == 1 and ctx1 > 0 and last1[1] == 0,
                  "ctx %d turns %d last %s" % (ctx1, turns1, last1))

        second = "how are you?"
        turn(chat, second)
        ctx2, turns2, (prompt2, reused2, gen2) = stats(chat)
        cont = n_tokens(st, model, "<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n" % second)
        res.check("context grew", turns2 == 2 and ctx2 > ctx1, "ctx %d -> %d" % (ctx1, ctx2))
        res.check("second turn reused the cache", reused2 == ctx1, "reused %d, first turn left %d" % (reused2, ctx1))
        res.check("second turn evaluated only the continuation", prompt2 in (cont, cont + 1) and prompt2 < ctx1,
                  "evaluated %d, continuation is %d tokens, history %d" % (prompt2, cont, ctx1))
        res.check("context accounting", ctx2 == ctx1 + prompt2 + gen2 - 1,
                  "%d == %d + %d + %d - 1" % (ctx2, ctx1, prompt2, gen2))

        chat.line("/reset")
        chat.expect(r"conversation reset")
        chat.expect(PROMPT)
        ctx3, turns3, _ = stats(chat)
        res.check("/reset empties the context", ctx3 == 0 and turns3 == 0, "ctx %d turns %d" % (ctx3, turns3))
        turn(chat, "hi again")
        ctx4, turns4, last4 = stats(chat)
        res.check("a turn after /reset starts from scratch", turns4 == 1 and last4[1] == 0 and ctx4 > 0,
                  "ctx %d last %s" % (ctx4, last4))

        chat.line("/help")
        chat.expect(r"/reset.*\n(.*\n)*.*/exit")
        chat.expect(PROMPT)
        chat.line("/nonsense")
        chat.expect(r"unknown command /nonsense")
        chat.expect(PROMPT)
        res.check("/help and unknown commands", True)

        chat.line("/exit")
        code = chat.wait_exit()
        res.check("/exit exits 0", code == 0, "exit code %s" % code)
    except Timeout as e:
        res.check("two-turn chat", False, str(e))
    finally:
        chat.kill()


def interrupt(res, st, model):
    chat = Chat([st, "chat", "-m", model, "-n", "100000", "-c", "65536", "-s", "2"])
    try:
        chat.expect(PROMPT, 60)
        streamed = False
        # A random model may sample a stop token early; ask again until an answer runs long.
        for attempt in range(8):
            text = "tell me a long story %d" % attempt
            chat.line(text)
            chat.expect(re.escape(text) + r"\n")
            start, reads, ended = chat.pos, 0, False
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(chat.out) - start < 200:
                if chat._read(deadline - time.monotonic()):
                    reads += 1
                if ("\n" + PROMPT) in chat.out[start:]:
                    ended = True
                    break
            if ended:
                chat.pos = chat.out.index("\n" + PROMPT, start) + len(PROMPT) + 1
                continue
            streamed = reads >= 2 and len(chat.out) - start >= 200
            break
        res.check("a long answer streams", streamed, "%d bytes in %d reads" % (len(chat.out) - start, reads))
        if not streamed:
            return
        chat.send("\x03")
        chat.expect(r"\[answer stopped\]\n", 30)
        chat.expect(PROMPT, 30)
        chat.drain(0.5)
        res.check("Ctrl-C stops the answer, the prompt returns", chat.alive() and chat.out.endswith(PROMPT),
                  "tail %r" % chat.out[-80:])

        ctx, turns, last = stats(chat)
        res.check("the interrupted turn counts", turns >= 1 and ctx > 0, "ctx %d turns %d" % (ctx, turns))

        chat.line("/reset")
        chat.expect(PROMPT)
        chat.line("some typed text", end="")
        chat.expect("some typed text")
        chat.send("\x03")
        chat.expect("\n" + PROMPT, 30)
        ctx, turns, _ = stats(chat)
        res.check("Ctrl-C on a typed line drops it and keeps running", chat.alive() and ctx == 0 and turns == 0,
                  "ctx %d turns %d" % (ctx, turns))

        chat.line("\x03", end="")
        code = chat.wait_exit()
        res.check("Ctrl-C on an empty prompt exits 0", code == 0, "exit code %s" % code)
    except Timeout as e:
        res.check("Ctrl-C handling", False, str(e))
    finally:
        chat.kill()


def piped(res, st, model):
    lines = "hi\nthis second turn cannot fit in so small a context\n/reset\n/stats\nhi again\n/stats\n"
    try:
        p = subprocess.run([st, "chat", "-m", model, "-c", "96", "-n", "1000", "-s", "3"], input=lines.encode(),
                           capture_output=True, timeout=180)
    except subprocess.TimeoutExpired:
        res.check("piped chat finishes", False, "timed out")
        return
    out = p.stdout.decode("utf-8", "replace")
    res.check("piped chat exits 0 at end of input", p.returncode == 0,
              "exit %d, stderr %r" % (p.returncode, p.stderr[-300:]))
    res.check("no prompt when piped", PROMPT not in out)
    res.check("a full context is reported", "[context full" in out and "/reset" in out, repr(out[-400:]))
    m = re.findall(r"context: (\d+) / 96 tokens, (\d+) turns", out)
    res.check("/reset recovers from a full context", len(m) == 2 and m[0] == ("0", "0") and m[1][1] == "1",
              repr(m))


def main():
    res = Results()
    st = os.environ.get("ST_BIN")
    if not st or not os.access(st, os.X_OK):
        res.check("ST_BIN names the smallthinker binary", False, repr(st))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            model = os.path.join(tmp, "tiny.gguf")
            synth = subprocess.run([st, "synth", "-o", model, "--preset", "tiny-swa", "--type", "q8_0"],
                                   capture_output=True, text=True, timeout=120)
            if res.check("synth a tiny model", synth.returncode == 0, synth.stderr[-300:] if synth.returncode else ""):
                two_turns(res, st, model)
                interrupt(res, st, model)
                piped(res, st, model)
    print("%d passed, %d failed" % (res.passed, res.failed))
    sys.exit(1 if res.failed else 0)


if __name__ == "__main__":
    main()
