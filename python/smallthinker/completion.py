"""create_completion / create_chat_completion: OpenAI-shaped dicts (and chunk iterators when
streaming) as llama-cpp-python returns them, over Llama.generate_tokens."""
from __future__ import annotations

import codecs
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .tools import ToolCallParser, tool_spec

_FIELD_REFUSED = "%s: not supported by smallthinker (leave it out)"


def _refuse(**fields: Any) -> None:
    for name, value in fields.items():
        if value not in (None, [], {}, False):
            raise ValueError(_FIELD_REFUSED % name)


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of `text` could begin a stop string (not yet safe to emit)."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best


class CompletionMixin:
    """The OpenAI-shaped layer of Llama (see llama.py for the engine side)."""

    def _pieces(self, prompt: List[int], params, max_tokens: int, stop: Sequence[str], logit_bias, n_logprobs: int,
                tools=None) -> Iterator[Tuple[str, Optional[Dict[str, Any]], Optional[str]]]:
        """Yields (text, token_info, finish_reason): text safe to show (stop strings cut off,
        whole UTF-8 characters), one entry per generated token, the last with the finish
        reason ("stop" or "length")."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text, emitted, reason, n = "", 0, "length", 0
        info, is_stop_token = None, False
        stops = [s for s in stop if s]
        self._n_generated = 0
        for token, logprob, top in self.generate_tokens(prompt, params, max_tokens, logit_bias, n_logprobs, tools):
            n += 1
            self._n_generated = n
            is_stop_token = token in self._stop_tokens
            text += decoder.decode(self.detokenize([token]))
            info = None if logprob is None else {"token": token, "logprob": logprob, "top": top}
            cut = min((i for i in (text.find(s, max(0, emitted - len(s))) for s in stops) if i >= 0), default=-1)
            if cut >= 0:
                yield text[emitted:cut], info, "stop"
                return
            if is_stop_token:
                reason = "stop"
                break
            safe = len(text) - _held_back(text, stops)
            yield text[emitted:safe], info, None
            emitted = max(emitted, safe)
        text += decoder.decode(b"", final=True)
        cut = min((i for i in (text.find(s, max(0, emitted - len(s))) for s in stops) if i >= 0), default=-1)
        if cut >= 0:
            text, reason = text[:cut], "stop"
        yield text[emitted:], (info if n and is_stop_token else None), reason

    def _prompt_tokens(self, prompt: Union[str, bytes, Sequence[int]]) -> List[int]:
        if isinstance(prompt, (str, bytes)):
            return self.tokenize(prompt.encode() if isinstance(prompt, str) else prompt, special=True)
        return [int(t) for t in prompt]

    def _token_str(self, token: int) -> str:
        return self.detokenize([token]).decode(errors="replace")

    # ---- completions ----

    def create_completion(self, prompt: Union[str, bytes, List[int]], suffix: Optional[str] = None,
                          max_tokens: Optional[int] = 16, temperature: float = 0.8, top_p: float = 0.95,
                          min_p: float = 0.05, typical_p: float = 1.0, logprobs: Optional[int] = None,
                          echo: bool = False, stop: Union[str, List[str], None] = None, frequency_penalty: float = 0.0,
                          presence_penalty: float = 0.0, repeat_penalty: float = 1.0, top_k: int = 40,
                          stream: bool = False, seed: Optional[int] = None, logit_bias: Optional[Dict[int, float]] = None,
                          grammar: Any = None, **unsupported: Any) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """Text completion of `prompt` (text: special-token text is parsed; or token ids).
        max_tokens None or <= 0: until a stop token or the context is full."""
        if unsupported:
            raise TypeError("create_completion(): smallthinker does not support %s" % ", ".join(sorted(unsupported)))
        _refuse(suffix=suffix, grammar=grammar)
        if typical_p != 1.0:
            raise ValueError(_FIELD_REFUSED % "typical_p")
        tokens = self._prompt_tokens(prompt)
        params = self._sampling(temperature, top_k, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty,
                                seed)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        pieces = self._pieces(tokens, params, max_tokens or 0, stops, logit_bias, logprobs or 0)
        head = {"id": "cmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": self.model_path}
        prefix = self.detokenize(tokens).decode(errors="replace") if echo else ""
        if stream:
            return self._completion_chunks(head, pieces, prefix, logprobs)
        text, infos, reason = prefix, [], "length"
        for piece, info, finish in pieces:
            text += piece
            infos.append((piece, info))
            reason = finish or reason
        n_gen = self._n_generated
        return dict(head, object="text_completion", choices=[{
            "text": text, "index": 0, "finish_reason": reason,
            "logprobs": self._completion_logprobs(infos, len(prefix)) if logprobs else None}],
            usage={"prompt_tokens": len(tokens), "completion_tokens": n_gen, "total_tokens": len(tokens) + n_gen})

    __call__ = create_completion

    def _completion_logprobs(self, infos, offset: int) -> Dict[str, Any]:
        out = {"tokens": [], "text_offset": [], "token_logprobs": [], "top_logprobs": []}
        for piece, info in infos:
            if info is not None:
                out["tokens"].append(self._token_str(info["token"]))
                out["text_offset"].append(offset)
                out["token_logprobs"].append(info["logprob"])
                out["top_logprobs"].append({self._token_str(t): lp for t, lp in info["top"]})
            offset += len(piece)
        return out

    def _completion_chunks(self, head, pieces, prefix: str, logprobs) -> Iterator[Dict[str, Any]]:
        offset = len(prefix)
        if prefix:
            yield dict(head, object="text_completion",
                       choices=[{"text": prefix, "index": 0, "logprobs": None, "finish_reason": None}])
        for piece, info, finish in pieces:
            lp = self._completion_logprobs([(piece, info)], offset) if logprobs and info else None
            offset += len(piece)
            yield dict(head, object="text_completion",
                       choices=[{"text": piece, "index": 0, "logprobs": lp, "finish_reason": finish}])

    # ---- chat ----

    @staticmethod
    def _response_format(response_format: Optional[Dict[str, Any]]) -> Tuple[bool, Optional[Any]]:
        """(json_object, json_schema) from llama-cpp-python's {"type": "json_object", "schema": ...}
        or OpenAI's {"type": "json_schema", "json_schema": {"schema": ...}}."""
        if not response_format or response_format.get("type") == "text":
            return False, None
        kind = response_format.get("type")
        if kind == "json_object":
            return True, response_format.get("schema")
        if kind == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            if schema is None:
                raise ValueError("response_format.json_schema.schema is missing")
            return True, schema
        raise ValueError("response_format.type %r: use text, json_object or json_schema" % (kind,))

    def create_chat_completion(self, messages: List[Dict[str, Any]], functions: Any = None, function_call: Any = None,
                               tools: Any = None, tool_choice: Any = None, temperature: float = 0.2,
                               top_p: float = 0.95, top_k: int = 40, min_p: float = 0.05, typical_p: float = 1.0,
                               stream: bool = False, stop: Union[str, List[str], None] = None,
                               seed: Optional[int] = None, response_format: Optional[Dict[str, Any]] = None,
                               max_tokens: Optional[int] = None, presence_penalty: float = 0.0,
                               frequency_penalty: float = 0.0, repeat_penalty: float = 1.0,
                               logit_bias: Optional[Dict[int, float]] = None, logprobs: Optional[bool] = None,
                               top_logprobs: Optional[int] = None, grammar: Any = None,
                               parallel_tool_calls: bool = True, **unsupported: Any
                               ) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """A reply to OpenAI-shaped `messages` through the model's chat template. response_format
        constrains it to JSON (optionally validating a schema). tools / tool_choice ("auto",
        "none", "required" or {"type": "function", "function": {"name": ...}}): the reply may
        (or must) call them, in message.tool_calls (streamed as delta.tool_calls) with
        finish_reason "tool_calls"; each call's arguments are constrained to its parameters
        schema. Turns with tool_calls and role "tool" results render through the template
        (Llama(chat_template=...) for one that shows tools). functions/grammar are refused."""
        if unsupported:
            raise TypeError("create_chat_completion(): smallthinker does not support %s" % ", ".join(sorted(unsupported)))
        _refuse(functions=functions, function_call=function_call, grammar=grammar)
        if typical_p != 1.0:
            raise ValueError(_FIELD_REFUSED % "typical_p")
        json_object, schema = self._response_format(response_format)
        spec = tool_spec(tools, tool_choice, parallel_tool_calls)
        if spec is not None and (json_object or schema is not None):
            if tool_choice != "none":
                raise ValueError("response_format cannot be combined with tools (unless tool_choice is \"none\")")
            spec = None  # with tool_choice none, JSON output wins (as the server does)
        history = any(m.get("role") == "tool" or m.get("tool_calls") for m in messages)
        tokens = self.chat_json_tokens(messages, tools) if tools or history else self.chat_tokens(messages)
        params = self._sampling(temperature, top_k, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty,
                                seed, schema, json_object)
        n_top = (top_logprobs or 0) if logprobs else 0
        if logprobs and n_top == 0:
            n_top = 1  # the chosen token's logprob is reported with one alternative
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        pieces = self._pieces(tokens, params, max_tokens or 0, stops, logit_bias, n_top, spec)
        head = {"id": "chatcmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": self.model_path}
        if spec is not None:
            pieces = _tool_pieces(pieces)
        if stream:
            return self._chat_chunks(head, pieces, bool(logprobs), top_logprobs or 0)
        text, content_lps, reason, calls = "", [], "length", []
        for piece, info, finish, *events in pieces:
            text += piece
            calls += [e for e in (events[0] if events else []) if e[0] != "content"]
            if logprobs and info:
                content_lps.append(self._chat_logprob(info, top_logprobs or 0))
            reason = finish or reason
        n_gen = self._n_generated
        message: Dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message = {"role": "assistant", "content": text or None, "tool_calls": _whole_calls(calls)}
        return dict(head, object="chat.completion", choices=[{
            "index": 0, "message": message,
            "logprobs": {"content": content_lps} if logprobs else None, "finish_reason": reason}],
            usage={"prompt_tokens": len(tokens), "completion_tokens": n_gen, "total_tokens": len(tokens) + n_gen})

    def _chat_logprob(self, info: Dict[str, Any], n_top: int) -> Dict[str, Any]:
        def entry(token: int, lp: float) -> Dict[str, Any]:
            b = self.detokenize([token])
            return {"token": b.decode(errors="replace"), "logprob": lp, "bytes": list(b)}
        out = entry(info["token"], info["logprob"])
        out["top_logprobs"] = [entry(t, lp) for t, lp in info["top"][:n_top]]
        return out

    def _chat_chunks(self, head, pieces, logprobs: bool, n_top: int) -> Iterator[Dict[str, Any]]:
        def chunk(delta, lp=None, finish=None):
            return dict(head, object="chat.completion.chunk",
                        choices=[{"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}])
        yield chunk({"role": "assistant"})
        for piece, info, finish, *events in pieces:
            lp = {"content": [self._chat_logprob(info, n_top)]} if logprobs and info else None
            if piece or lp:
                yield chunk({"content": piece}, lp)
            for e in (events[0] if events else []):
                if e[0] == "open":
                    yield chunk({"tool_calls": [{"index": e[1], "id": e[2], "type": "function",
                                                 "function": {"name": e[3], "arguments": ""}}]})
                elif e[0] == "arguments":
                    yield chunk({"tool_calls": [{"index": e[1], "function": {"arguments": e[2]}}]})
            if finish:
                yield chunk({}, None, finish)


def _tool_pieces(pieces):
    """(text, info, finish) pieces -> (content, info, finish, events): the text goes through a
    ToolCallParser; content is what is not a call, events the calls' (see tools.py), and the
    finish reason is "tool_calls" when a reply that ended by itself holds any."""
    parser = ToolCallParser()
    for text, info, finish in pieces:
        events = parser.push(text)
        if finish:
            events += parser.finish()
            if parser.calls and finish == "stop":  # (a reply cut by max_tokens stays "length")
                finish = "tool_calls"
        yield "".join(e[1] for e in events if e[0] == "content"), info, finish, \
            [e for e in events if e[0] != "content"]


def _whole_calls(events) -> List[Dict[str, Any]]:
    """The calls the events of a whole reply describe, in OpenAI's message.tool_calls shape."""
    calls: List[Dict[str, Any]] = []
    for e in events:
        if e[0] == "open":
            calls.append({"id": e[2], "type": "function", "function": {"name": e[3], "arguments": ""}})
        else:
            calls[e[1]]["function"]["arguments"] += e[2]
    return calls
