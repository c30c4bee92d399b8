"""llama.cpp's server endpoints on `smallthinker serve`, through plain HTTP (urllib), in
llama-server's JSON shapes. Oracles: `smallthinker tokenize --ids` (the CLI's tokenizer path) for
/tokenize, the text itself for /detokenize and the pieces, the GGUF's own metadata (read by the
independent Python reader in tests/reference) for /props' chat_template, and the command line for
/props' and /slots' sizes."""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from server_proc import fail, start_server, stop_server  # noqa: E402
import gguf  # noqa: E402

ST_BIN = os.environ.get("ST_BIN", "build/bin/smallthinker")
SRC = os.environ.get("ST_SOURCE_DIR", ".")
MODEL = os.path.join(SRC, "models", "smallthinker-nano.gguf")
KEY = "llama-key"
CTX, SLOTS = 320, 3
TEXTS = ["Hello, world!", "  leading spaces and\ttabs\n\nnew lines", "naïve café — 東京 🦙🦙",
         "<|im_start|>user\nhi<|im_end|>", "x"]


def request(base, path, body=None, key=KEY, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data is not None else "GET"))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def cli_ids(text, special=True):
    cmd = [ST_BIN, "tokenize", "-m", MODEL, "-p", text, "--ids"] + ([] if special else ["--no-special"])
    return json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)


def check_tokenize(base):
    for text in TEXTS:
        for special in (True, False):
            want = cli_ids(text, special)
            code, r = request(base, "/tokenize", {"content": text, "parse_special": special})
            if code != 200 or r.get("tokens") != want:
                fail(f"/tokenize {text!r} parse_special={special}: {code} {r}, CLI says {want}")
            code, r = request(base, "/tokenize", {"content": text, "parse_special": special, "with_pieces": True})
            if code != 200 or [t["id"] for t in r["tokens"]] != want:
                fail(f"/tokenize with_pieces {text!r}: {code} {r}")
            # Pieces: a string when valid UTF-8, else the bytes; together they spell the text.
            raw = b"".join(t["piece"].encode() if isinstance(t["piece"], str) else bytes(t["piece"]) for t in r["tokens"])
            if raw != text.encode():
                fail(f"/tokenize pieces of {text!r} spell {raw!r}")
            code, r = request(base, "/detokenize", {"tokens": want})
            if code != 200 or r.get("content") != text:
                fail(f"/detokenize of {text!r}'s tokens: {code} {r}")
    # A character split across tokens shows up as byte pieces (the llama emoji is 4 bytes).
    code, r = request(base, "/tokenize", {"content": "🦙", "with_pieces": True})
    if not any(isinstance(t["piece"], list) for t in r["tokens"]) and len(r["tokens"]) > 1:
        fail(f"a split character's pieces are not byte arrays: {r}")
    for body, param in [({}, "content"), ({"content": 5}, "content"), ({"content": "a", "with_pieces": "yes"}, "with_pieces"),
                        ({"content": "a", "frobnicate": 1}, "frobnicate")]:
        code, r = request(base, "/tokenize", body)
        if code != 400 or r["error"]["param"] != param:
            fail(f"/tokenize {body}: expected a 400 naming {param}, got {code} {r}")
    for body, param in [({"tokens": [1, -1]}, "tokens[1]"), ({"tokens": [10 ** 9]}, "tokens[0]"), ({"tokens": "1"}, "tokens")]:
        code, r = request(base, "/detokenize", body)
        if code != 400 or r["error"]["param"] != param:
            fail(f"/detokenize {body}: expected a 400 naming {param}, got {code} {r}")


def check_props(base):
    code, p = request(base, "/props")
    if code != 200:
        fail(f"/props: {code} {p}")
    meta = gguf.GGUFReader(MODEL)
    want_template = meta.get("tokenizer.chat_template", "")
    if isinstance(want_template, bytes):
        want_template = want_template.decode()
    if p["chat_template"] != want_template:
        fail(f"/props chat_template {p['chat_template'][:80]!r} is not the file's {want_template[:80]!r}")
    if p["total_slots"] != SLOTS or p["default_generation_settings"]["n_ctx"] != CTX:
        fail(f"/props sizes: {p['total_slots']} slots, n_ctx {p['default_generation_settings']['n_ctx']}")
    if os.path.realpath(p["model_path"]) != os.path.realpath(MODEL):
        fail(f"/props model_path {p['model_path']}")
    params = p["default_generation_settings"]["params"]
    for k in ("temperature", "top_k", "top_p", "min_p", "n_predict", "seed"):
        if k not in params:
            fail(f"/props default_generation_settings.params lacks {k}: {params}")


def check_slots(base):
    code, slots = request(base, "/slots")
    if code != 200 or [s["id"] for s in slots] != list(range(SLOTS)):
        fail(f"/slots: {code} {slots}")
    if any(s["is_processing"] or s["n_ctx"] != CTX for s in slots):
        fail(f"/slots while idle: {slots}")
    # While a long generation runs, one slot is busy with its settings.
    body = {"prompt": "Once upon a time", "max_tokens": 200, "temperature": 0.7, "top_k": 17, "seed": 5, "stream": True}
    done = threading.Event()

    def generate():
        req = urllib.request.Request(base + "/v1/completions", data=json.dumps(body).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Bearer " + KEY)
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
        done.set()

    t = threading.Thread(target=generate)
    t.start()
    busy = None
    deadline = time.time() + 60
    while busy is None and not done.is_set() and time.time() < deadline:
        _, slots = request(base, "/slots")
        busy = next((s for s in slots if s["is_processing"]), None)
    t.join()
    if busy is None:
        fail("/slots never showed the running request")
    if busy["params"]["top_k"] != 17 or abs(busy["params"]["temperature"] - 0.7) > 1e-6 or busy["params"]["n_predict"] != 200:
        fail(f"/slots params of the running request: {busy['params']}")
    _, slots = request(base, "/slots")
    if any(s["is_processing"] for s in slots) or not any(s["next_token"]["n_decoded"] > 0 for s in slots):
        fail(f"/slots after the request: {slots}")


def main():
    proc, host, port = start_server([ST_BIN, "serve", "-m", MODEL, "--port", "0", "-t", "2", "-c", str(CTX),
                                     "--parallel", str(SLOTS), "--api-key", KEY])
    base = f"http://{host}:{port}"
    try:
        for path, body in [("/tokenize", {"content": "a"}), ("/detokenize", {"tokens": [1]}), ("/props", None), ("/slots", None)]:
            code, _ = request(base, path, body, key=None)
            if code != 401:
                fail(f"{path} without the key: {code}")
        code, _ = request(base, "/tokenize", None, method="GET")
        if code != 405:
            fail(f"GET /tokenize: {code}")
        check_tokenize(base)
        check_props(base)
        check_slots(base)
    finally:
        stop_server(proc)
    print("test_llama_endpoints: OK")


if __name__ == "__main__":
    main()
