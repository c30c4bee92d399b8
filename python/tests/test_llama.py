"""The Python package against independent oracles: the CLI (`smallthinker tokenize`, `run`,
`logits`), the jsonschema package (Debian's python3-jsonschema) and the wall clock."""
import json
import os
import re
import signal
import threading
import time

import jsonschema
import numpy as np
import pytest

import smallthinker
from smallthinker import Llama, SmallThinkerError

PROMPT = "In the beginning God created"
QUESTION = "Who made the heaven and the earth?"
SAMPLED = dict(temperature=0.9, top_k=20, top_p=0.9, min_p=0.02, repeat_penalty=1.1, seed=7)
SAMPLED_CLI = ["--temp", "0.9", "--top-k", "20", "--top-p", "0.9", "--min-p", "0.02", "--repeat-penalty", "1.1",
               "-s", "7"]


def cli_run(cli, model_path, args):
    """`smallthinker run`'s text: it prints the prompt (not with --chat), the reply and a newline;
    a character left unfinished at the end is flushed as U+FFFD, which the package drops."""
    out = cli("run", "-m", model_path, "-c", "1024", "-t", "2", *args).stdout.decode()
    assert out.endswith("\n")
    return re.sub("\ufffd+$", "", out[:-1])


def test_the_bundled_library_is_loaded():
    assert smallthinker.version() == "0.1.0"
    path = smallthinker._ffi.lib._name
    assert "site-packages" in path or os.environ.get("SMALLTHINKER_LIBRARY"), path


def test_tokens_equal_the_cli(cli, llm, model_path):
    for text in (PROMPT, "Hello, world! 123 <|im_start|>user\nhi", "naïve café — ünïcödé"):
        ids = json.loads(cli("tokenize", "-m", model_path, "-p", text, "--ids").stdout)
        assert llm.tokenize(text.encode(), special=True) == ids, text
        # Control tokens (<|im_start|>) decode to nothing, as llama.cpp's detokenize without special.
        assert llm.detokenize(ids) == text.replace("<|im_start|>", "").encode()
    plain = json.loads(cli("tokenize", "-m", model_path, "-p", "<|im_start|>", "--ids", "--no-special").stdout)
    assert llm.tokenize(b"<|im_start|>", special=False) == plain
    assert len(plain) > 1


def test_greedy_completion_equals_the_cli(cli, llm, model_path):
    expected = cli_run(cli, model_path, ["-p", PROMPT, "-n", "32", "--temp", "0"])
    out = llm(PROMPT, max_tokens=32, temperature=0)
    assert out["object"] == "text_completion"
    assert PROMPT + out["choices"][0]["text"] == expected
    assert out["usage"]["prompt_tokens"] == len(llm.tokenize(PROMPT.encode()))


def test_seeded_sampling_equals_the_cli(cli, llm, model_path):
    expected = cli_run(cli, model_path, ["-p", PROMPT, "-n", "32"] + SAMPLED_CLI)
    assert PROMPT + llm(PROMPT, max_tokens=32, **SAMPLED)["choices"][0]["text"] == expected


def test_greedy_chat_equals_the_cli(cli, llm, model_path):
    expected = cli_run(cli, model_path, ["--chat", "-p", QUESTION, "-n", "48", "--temp", "0"])
    out = llm.create_chat_completion([{"role": "user", "content": QUESTION}], max_tokens=48, temperature=0)
    assert out["object"] == "chat.completion"
    msg = out["choices"][0]["message"]
    assert msg["role"] == "assistant" and msg["content"] == expected.strip()
    assert out["choices"][0]["finish_reason"] in ("stop", "length")


def test_logits_equal_the_cli(cli, llm, model_path, tmp_path):
    ids = llm.tokenize(PROMPT.encode())
    out = tmp_path / "logits.f32"
    cli("logits", "-m", model_path, "--tokens", ",".join(map(str, ids)), "-o", out, "-c", "1024", "-t", "2")
    expected = np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)
    llm.reset()
    got = llm.eval(ids)
    assert got.shape == (llm.n_vocab(),) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected[-1], rtol=1e-5, atol=1e-5)
    # Token by token (logits_all) every row matches, up to batched-vs-single float noise.
    every = Llama(model_path=model_path, n_ctx=256, n_threads=2, logits_all=True)
    rows = every.eval(ids)
    assert rows.shape == expected.shape
    np.testing.assert_allclose(rows, expected, rtol=1e-3, atol=1e-3)
    assert (rows.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_streaming_chunks_concatenate_to_the_reply(llm):
    messages = [{"role": "user", "content": QUESTION}]
    whole = llm.create_chat_completion(messages, max_tokens=48, temperature=0)
    chunks = list(llm.create_chat_completion(messages, max_tokens=48, temperature=0, stream=True))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"] and len(text) > 0
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    completion = llm(PROMPT, max_tokens=24, temperature=0)
    streamed = "".join(c["choices"][0]["text"] for c in llm(PROMPT, max_tokens=24, temperature=0, stream=True))
    assert streamed == completion["choices"][0]["text"]


def test_stop_strings_cut_the_reply(llm):
    full = llm(PROMPT, max_tokens=32, temperature=0)["choices"][0]["text"]
    words = full.split()
    assert len(words) > 3
    stop = " " + words[2]
    out = llm(PROMPT, max_tokens=32, temperature=0, stop=[stop])
    assert out["choices"][0]["text"] == full[:full.index(stop)]
    assert out["choices"][0]["finish_reason"] == "stop"
    streamed = "".join(c["choices"][0]["text"] for c in llm(PROMPT, max_tokens=32, temperature=0, stop=stop, stream=True))
    assert streamed == out["choices"][0]["text"]


SCHEMA = {"type": "object",
          "properties": {"answer": {"type": "string", "enum": ["God", "Moses", "Adam"]},
                         "sure": {"type": "boolean"}},
          "required": ["answer", "sure"]}


@pytest.mark.parametrize("response_format", [
    {"type": "json_object", "schema": SCHEMA},
    {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}},
])
def test_json_schema_output_validates(llm, response_format):
    out = llm.create_chat_completion([{"role": "user", "content": QUESTION + " Answer in JSON."}],
                                     response_format=response_format, max_tokens=64, temperature=0)
    content = out["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), SCHEMA)
    assert out["choices"][0]["finish_reason"] == "stop"


def test_json_object_output_parses(llm):
    out = llm.create_chat_completion([{"role": "user", "content": "Give a JSON object."}],
                                     response_format={"type": "json_object"}, max_tokens=200, temperature=0.7, seed=3)
    if out["choices"][0]["finish_reason"] == "stop":
        assert isinstance(json.loads(out["choices"][0]["message"]["content"]), dict)


def test_logprobs_are_the_models_distribution(llm):
    out = llm.create_chat_completion([{"role": "user", "content": QUESTION}], max_tokens=8, temperature=0,
                                     logprobs=True, top_logprobs=3)
    content = out["choices"][0]["logprobs"]["content"]
    assert len(content) >= 1
    ids = llm.chat_tokens([{"role": "user", "content": QUESTION}])
    llm.reset()
    logits = llm.eval(ids).astype(np.float64)
    ref = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
    first = content[0]
    best = int(ref.argmax())
    assert first["token"].encode() == llm.detokenize([best]) or first["bytes"] == list(llm.detokenize([best]))
    assert abs(first["logprob"] - ref[best]) < 1e-4
    assert len(first["top_logprobs"]) == 3
    assert [round(t["logprob"], 4) for t in first["top_logprobs"]] == [round(v, 4) for v in np.sort(ref)[::-1][:3]]
    legacy = llm(PROMPT, max_tokens=4, temperature=0, logprobs=2)["choices"][0]["logprobs"]
    assert len(legacy["tokens"]) == len(legacy["token_logprobs"]) == 4


def test_keyboard_interrupt_returns_within_100ms(llm):
    """Ctrl-C (a real SIGINT) during a long generation: KeyboardInterrupt reaches the caller within
    100 ms, and the Llama is usable afterwards."""
    ban_stops = {t: -float("inf") for t in llm._stop_tokens}
    long = Llama(model_path=llm.model_path, n_ctx=4096, n_threads=2)
    sent = {}

    def interrupt():
        sent["t"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)
    timer = threading.Timer(0.5, interrupt)
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for _ in long(PROMPT, max_tokens=0, temperature=0.8, seed=1, logit_bias=ban_stops, stream=True):
            pass
    caught = time.monotonic()
    timer.join()
    assert "t" in sent, "generation ended before the interrupt (%.2fs)" % (caught - started)
    assert caught - sent["t"] < 0.1, "KeyboardInterrupt took %.0f ms" % (1000 * (caught - sent["t"]))
    assert long.n_tokens > 8
    assert long(PROMPT, max_tokens=4, temperature=0)["usage"]["completion_tokens"] >= 1


def test_two_threads_with_their_own_context_run_at_once(llm, model_path):
    messages = [[{"role": "user", "content": QUESTION}], [{"role": "user", "content": "Who was Moses?"}]]
    expected = [llm.create_chat_completion(m, max_tokens=40, temperature=0)["choices"][0]["message"]["content"]
                for m in messages]
    llms = [Llama(model_path=model_path, n_ctx=512, n_threads=1) for _ in messages]
    results, stamps = [None, None], [[], []]
    barrier = threading.Barrier(2)

    def work(i):
        barrier.wait()
        text = ""
        for chunk in llms[i].create_chat_completion(messages[i], max_tokens=40, temperature=0, stream=True):
            stamps[i].append(time.monotonic())
            text += chunk["choices"][0]["delta"].get("content", "")
        results[i] = text
    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected
    # Both were generating at the same time: each produced tokens while the other was running.
    a0, a1, b0, b1 = stamps[0][0], stamps[0][-1], stamps[1][0], stamps[1][-1]
    assert max(a0, b0) < min(a1, b1), "the two generations did not overlap"
    inside = sum(1 for t in stamps[1] if a0 < t < a1)
    assert inside >= 2, "thread 2 produced %d tokens while thread 1 ran" % inside


def test_save_and_load_state(llm):
    ids = llm.tokenize(PROMPT.encode())
    llm.reset()
    llm.eval(ids[:3])
    state = llm.save_state()
    after = llm.eval(ids[3:]).copy()
    llm.eval(llm.tokenize(b" and more"))
    llm.load_state(state)
    assert llm.n_tokens == 3
    np.testing.assert_array_equal(llm.eval(ids[3:]), after)


def test_sizes_and_errors(llm, model_path, tmp_path):
    assert llm.n_ctx() == 1024 and llm.n_vocab() > 0
    with pytest.raises(SmallThinkerError) as e:
        Llama(model_path=str(tmp_path / "missing.gguf"))
    assert e.value.status == "ST_ERR_IO" and "missing.gguf" in str(e.value)
    with pytest.raises(ValueError, match="tools"):
        llm.create_chat_completion([{"role": "user", "content": "hi"}], tools=[{"type": "function"}])
    with pytest.raises(ValueError, match="memory"):
        Llama(model_path=model_path, memory="lots")
    with pytest.raises(SmallThinkerError, match="cache_policy"):
        Llama(model_path=model_path, cache_policy="random")
    # The budget caps the whole process, whose code files (Python, numpy's BLAS) count: 64 MiB is
    # below that for the nano model, and the error says so naming the option.
    with pytest.raises(SmallThinkerError, match="memory_budget"):
        Llama(model_path=model_path, n_ctx=256, memory="64MiB")
    budgeted = Llama(model_path=model_path, n_ctx=256, memory="1GiB", cache_policy="lru", n_threads=2)
    assert budgeted(PROMPT, max_tokens=4, temperature=0)["choices"][0]["text"] == \
        llm(PROMPT, max_tokens=4, temperature=0)["choices"][0]["text"]
    stats = budgeted.runtime_stats()
    assert stats["budgeted"] == 1 and stats["experts_read"] > 0 and stats["reglu_neurons"] > 0
