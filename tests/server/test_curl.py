"""`smallthinker serve` through curl: server-sent events end with `data: [DONE]` and carry the
same text as the non-streaming reply; the key, body limit and JSON errors as plain HTTP sees
them; the server binds loopback by default and shuts down cleanly on SIGTERM."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_proc import fail, start_server, stop_server  # noqa: E402

ST_BIN = os.environ.get("ST_BIN", "build/bin/smallthinker")
SRC = os.environ.get("ST_SOURCE_DIR", ".")
MODEL = os.path.join(SRC, "models", "smallthinker-nano.gguf")
KEY = "curl-key"


def start():
    p, host, port = start_server([ST_BIN, "serve", "-m", MODEL, "--port", "0", "-t", "2", "-c", "256", "--api-key", KEY])
    if host != "127.0.0.1":
        fail(f"default host is {host}, not loopback")
    return p, port


def curl(url, *args, data=None):
    cmd = ["curl", "-sS", "-N", "-o", "-", "-w", "\n%{http_code}", "--max-time", "60", url, *args]
    if data is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    r = subprocess.run(cmd, input=data, capture_output=True, check=True)
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code), body.decode("utf-8")


def main():
    proc, port = start()
    base = f"http://127.0.0.1:{port}"
    auth = ["-H", f"Authorization: Bearer {KEY}"]
    try:
        code, body = curl(base + "/health")
        if code != 200 or json.loads(body)["status"] != "ok":
            fail(f"/health: {code} {body}")

        req = {"messages": [{"role": "user", "content": "What is 31 + 14?"}], "temperature": 0, "max_tokens": 64}
        code, body = curl(base + "/v1/chat/completions", *auth, data=json.dumps(req).encode())
        if code != 200:
            fail(f"chat: {code} {body}")
        whole = json.loads(body)["choices"][0]["message"]["content"]
        if "45" not in whole:
            fail(f"nano should answer 45: {whole!r}")

        req["stream"] = True
        code, body = curl(base + "/v1/chat/completions", *auth, data=json.dumps(req).encode())
        events = [e for e in body.split("\n\n") if e.strip()]
        if code != 200 or not all(e.startswith("data: ") for e in events):
            fail(f"stream: {code} {body[:500]}")
        if events[-1] != "data: [DONE]":
            fail(f"stream does not end with [DONE]: {events[-1]!r}")
        chunks = [json.loads(e[6:]) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        if text != whole:
            fail(f"streamed {text!r} != {whole!r}")
        if chunks[-1]["choices"][0]["finish_reason"] != "stop" or "timings" not in chunks[-1]:
            fail(f"last chunk: {chunks[-1]}")

        # response_format json_schema: the reply validates against the schema (required keys,
        # types, enum), and an unsupported keyword is refused with 400 naming it.
        schema = {"type": "object", "properties": {"answer": {"type": "integer"}, "sure": {"type": "boolean"},
                                                   "unit": {"enum": ["apples", "pears"]}},
                  "required": ["answer", "sure", "unit"]}
        req = {"messages": [{"role": "user", "content": "What is 31 + 14? Answer in JSON."}], "temperature": 0,
               "max_tokens": 120, "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}}
        code, body = curl(base + "/v1/chat/completions", *auth, data=json.dumps(req).encode())
        if code != 200:
            fail(f"json_schema: {code} {body}")
        reply = json.loads(body)["choices"][0]
        try:
            obj = json.loads(reply["message"]["content"])
        except ValueError:
            fail(f"json_schema reply does not parse ({reply['finish_reason']}): {reply['message']['content']!r}")
        if (set(obj) != {"answer", "sure", "unit"} or type(obj["answer"]) is not int or type(obj["sure"]) is not bool
                or obj["unit"] not in ("apples", "pears")):
            fail(f"json_schema reply does not validate: {obj!r}")
        req["response_format"]["json_schema"]["schema"] = {"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}}
        code, body = curl(base + "/v1/chat/completions", *auth, data=json.dumps(req).encode())
        if code != 400 or "pattern" not in json.loads(body)["error"]["message"]:
            fail(f"unsupported schema keyword: {code} {body}")

        code, body = curl(base + "/v1/models", "-H", "Authorization: Bearer nope")
        if code != 401 or json.loads(body)["error"]["code"] != "invalid_api_key":
            fail(f"bad key: {code} {body}")
        code, body = curl(base + "/v1/chat/completions", *auth, data=b'{"messages": "hi"}')
        if code != 400 or json.loads(body)["error"]["param"] != "messages":
            fail(f"wrong type: {code} {body}")
        with tempfile.TemporaryFile() as big:
            big.write(b'{"prompt": "' + b"a" * (3 << 20) + b'"}')
            big.seek(0)
            r = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", base + "/v1/completions", *auth,
                                "-H", "Content-Type: application/json", "--data-binary", "@-"], stdin=big, capture_output=True)
            body, _, code = r.stdout.rpartition(b"\n")
            if code != b"413" or "error" not in json.loads(body):
                fail(f"oversized body: {code} {body[:200]}")
        code, body = curl(base + "/v1/completions", *auth, data=b"\xff\xfe not json")
        if code != 400 or json.loads(body)["error"]["code"] != "invalid_json":
            fail(f"binary body: {code} {body}")
    finally:
        stop_server(proc)
    print("test_curl: all passed")


if __name__ == "__main__":
    main()
