"""Tool calling through create_chat_completion (tools / tool_choice, OpenAI's shapes), on the nano
model with Qwen2.5's chat template (it shows the tools and renders tool calls and results). The
nano model was not trained on tools, so calls are forced (a named function, "required"). Oracle
for the arguments: the jsonschema package, on each call against its tool's parameters."""
import json
import os

import jsonschema
import pytest

from smallthinker import Llama, SmallThinkerError

from conftest import SOURCE

TEMPLATE = os.path.join(SOURCE, "tests", "jinja_js", "templates", "Qwen__Qwen2.5-7B-Instruct.jinja")
# Bounded types only (enums, integers, booleans): a tiny model at temperature 0 could write a
# free string forever.
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"enum": ["Paris", "Tokyo", "Lima"]},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"}}, "required": ["city", "unit"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Adds two integers",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"},
                                                        "exact": {"type": "boolean"}}, "required": ["a", "b"]}}},
]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
QUESTION = [{"role": "user", "content": "What is the weather in Paris, and what is 2 + 3?"}]
BASE = dict(tools=TOOLS, temperature=0, max_tokens=200)


@pytest.fixture(scope="module")
def tllm(model_path):
    return Llama(model_path=model_path, n_ctx=4096, n_threads=2, chat_template=TEMPLATE)


def check_call(call, name=None):
    assert isinstance(call["id"], str) and call["id"] and call["type"] == "function", call
    assert call["function"]["name"] in SCHEMAS, call
    if name:
        assert call["function"]["name"] == name
    args = json.loads(call["function"]["arguments"])
    jsonschema.validate(args, SCHEMAS[call["function"]["name"]])
    return args


def test_named_tool_choice_gives_a_valid_call(tllm):
    r = tllm.create_chat_completion(QUESTION, tool_choice={"type": "function", "function": {"name": "add"}}, **BASE)
    choice = r["choices"][0]
    assert r["object"] == "chat.completion"
    assert choice["finish_reason"] == "tool_calls", choice
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"] is None, choice
    assert len(choice["message"]["tool_calls"]) >= 1
    for call in choice["message"]["tool_calls"]:
        check_call(call, "add")


def test_required_without_parallel_calls_gives_one_call(tllm):
    r = tllm.create_chat_completion(QUESTION, tool_choice="required", parallel_tool_calls=False, **BASE)
    choice = r["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and len(choice["message"]["tool_calls"]) == 1, choice
    check_call(choice["message"]["tool_calls"][0])


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_streamed_tool_calls_reassemble_to_the_whole_reply(tllm, tool_choice):
    whole = tllm.create_chat_completion(QUESTION, tool_choice=tool_choice, **BASE)
    calls, finish, fragments = [], None, 0
    for chunk in tllm.create_chat_completion(QUESTION, tool_choice=tool_choice, stream=True, **BASE):
        assert chunk["object"] == "chat.completion.chunk"
        c = chunk["choices"][0]
        for d in c["delta"].get("tool_calls", []):
            if d.get("id"):
                assert d["index"] == len(calls) and d["function"]["name"], d
                calls.append({"id": d["id"], "type": d["type"],
                              "function": {"name": d["function"]["name"], "arguments": d["function"]["arguments"]}})
            else:
                calls[d["index"]]["function"]["arguments"] += d["function"]["arguments"]
                fragments += 1
        finish = c["finish_reason"] or finish
    assert finish == "tool_calls"
    assert fragments >= 2, "the arguments came in %d fragments, not as they were generated" % fragments
    want = [(c["function"]["name"], c["function"]["arguments"]) for c in whole["choices"][0]["message"]["tool_calls"]]
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == want
    for call in calls:
        check_call(call)


def test_a_tool_result_turn_renders_and_answers(tllm):
    first = tllm.create_chat_completion(QUESTION, tool_choice={"type": "function", "function": {"name": "add"}},
                                        parallel_tool_calls=False, **BASE)
    message = first["choices"][0]["message"]
    call = message["tool_calls"][0]
    args = check_call(call, "add")
    result = json.dumps({"sum": args["a"] + args["b"]})
    history = QUESTION + [message, {"role": "tool", "tool_call_id": call["id"], "content": result}]
    text = tllm.chat_json_text(history, TOOLS)
    # Qwen2.5's template: the tools in the system turn, the call with its arguments as an object
    # (OpenAI sends a string; the template's `| tojson` needs the object), the result as a
    # <tool_response> in a user turn, then the assistant prompt.
    assert '"name": "add"' in text and '"description": "Adds two integers"' in text
    assert '<tool_call>\n{"name": "add", "arguments": %s}\n</tool_call>' % json.dumps(json.loads(call["function"]["arguments"])) in text
    assert text.endswith("<tool_response>\n%s\n</tool_response><|im_end|>\n<|im_start|>assistant\n" % result), text[-300:]
    assert tllm.chat_json_tokens(history, TOOLS) == tllm.tokenize(text.encode(), special=True)
    answer = tllm.create_chat_completion(history, tool_choice="none", **dict(BASE, max_tokens=30))
    choice = answer["choices"][0]
    assert choice["finish_reason"] in ("stop", "length")
    assert "tool_calls" not in choice["message"] and isinstance(choice["message"]["content"], str)
    assert choice["message"]["content"].strip() and "<tool_call>" not in choice["message"]["content"]
    assert answer["usage"]["prompt_tokens"] == len(tllm.chat_json_tokens(history, TOOLS))


def test_tool_turns_render_with_the_model_template(llm):
    """The nano file's own template (ChatML, no tools shown) renders a role "tool" turn too."""
    history = [{"role": "user", "content": "2 + 3?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": '{"sum": 5}'}]
    text = llm.chat_json_text(history)
    assert text.endswith("<|im_start|>assistant\n<|im_end|>\n<|im_start|>tool\n{\"sum\": 5}<|im_end|>\n"
                         "<|im_start|>assistant\n"), text
    r = llm.create_chat_completion(history, temperature=0, max_tokens=8)
    assert r["choices"][0]["message"]["content"] and r["usage"]["prompt_tokens"] == len(llm.chat_json_tokens(history))


def test_tool_choice_none_and_invalid_tools(tllm):
    r = tllm.create_chat_completion(QUESTION, tool_choice="none", **dict(BASE, max_tokens=20))
    assert "tool_calls" not in r["choices"][0]["message"] and "<tool_call>" not in r["choices"][0]["message"]["content"]
    with pytest.raises(ValueError, match="tool_choice.function.name"):
        tllm.create_chat_completion(QUESTION, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "x"}})
    with pytest.raises(ValueError, match="required"):
        tllm.create_chat_completion(QUESTION, tool_choice="required")
    with pytest.raises(ValueError, match="tools\\[0\\].function.name"):
        tllm.create_chat_completion(QUESTION, tools=[{"type": "function", "function": {"parameters": {}}}])
    bad = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"s": {"type": "string", "pattern": "a+"}}}}}]
    with pytest.raises(SmallThinkerError, match="ST_ERR_INVALID_ARGUMENT: tools: tools\\[0\\].parameters.*pattern"):
        tllm.create_chat_completion(QUESTION, tools=bad, tool_choice="required")
    with pytest.raises(ValueError, match="response_format"):
        tllm.create_chat_completion(QUESTION, tools=TOOLS, response_format={"type": "json_object"})
