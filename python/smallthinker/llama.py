"""Llama: llama-cpp-python's high-level API over libsmallthinker, so code written for
`llama_cpp.Llama` ports by changing the import. One Llama owns a model and one session (its KV
cache); use one Llama per thread (the library releases the GIL while it computes, so Llamas in
different threads run at once)."""
from __future__ import annotations

import ctypes
import json
import random
import re
from ctypes import POINTER, byref, c_float, c_int32, c_size_t, c_void_p
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ffi
from ._ffi import check, lib
from .completion import CompletionMixin
from .tools import ToolSpec

LLAMA_DEFAULT_SEED = 0xFFFFFFFF  # llama-cpp-python's "random seed"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def parse_memory(memory: Union[str, int, None]) -> int:
    """A memory budget as the CLI's --memory takes it ("1GiB", "512MiB", "8G", bytes) -> bytes; 0: none."""
    if memory is None:
        return 0
    if isinstance(memory, int):
        if memory < 0:
            raise ValueError("memory: %d is negative" % memory)
        return memory
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(memory))
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        raise ValueError("memory: %r is not a memory size (examples: 1GiB, 512MiB, 8G, 1500000000)" % (memory,))
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


class LlamaState:
    """What Llama.save_state returns: the context's tokens (the library re-evaluates them on load)."""

    def __init__(self, state: bytes, n_tokens: int):
        self.state = state
        self.n_tokens = n_tokens


class _Sampler:
    """An st_sampler for one generation (its penalties and constraint are per generation)."""

    def __init__(self, model: c_void_p, params: _ffi.SamplingParams, tools: Optional[ToolSpec] = None):
        self.handle = c_void_p()
        if tools is None:
            check(lib.st_sampler_new(model, byref(params), byref(self.handle)), "creating the sampler")
            return
        check(lib.st_sampler_new_tools(model, byref(params), tools.c_arrays(), len(tools.tools), tools.choice,
                                       1 if tools.parallel else 0, byref(self.handle)), "tools")

    def __del__(self):
        if getattr(self, "handle", None):
            lib.st_sampler_free(self.handle)
            self.handle = None

    def accept_prompt(self, tokens: Sequence[int]) -> None:
        check(lib.st_sampler_accept_prompt(self.handle, _ffi.int32_array(tokens), len(tokens)))

    def accept(self, token: int) -> None:
        t = c_int32(token)
        check(lib.st_sampler_accept(self.handle, byref(t), 1))

    def sample(self, logits, n_vocab: int, n_top: int) -> Tuple[int, Optional[float], List[Tuple[int, float]]]:
        token = c_int32()
        if n_top <= 0:
            check(lib.st_sampler_sample(self.handle, logits, n_vocab, byref(token)), "sampling")
            return token.value, None, []
        logprob = c_float()
        tops, top_lps = (c_int32 * n_top)(), (c_float * n_top)()
        check(lib.st_sampler_sample_logprobs(self.handle, logits, n_vocab, byref(token), byref(logprob), n_top, tops,
                                             top_lps), "sampling")
        return token.value, logprob.value, list(zip(tops, top_lps))


class Llama(CompletionMixin):
    def __init__(self, model_path: str, *, n_ctx: int = 512, n_batch: int = 512, n_threads: Optional[int] = None,
                 seed: int = LLAMA_DEFAULT_SEED, memory: Union[str, int, None] = None,
                 cache_policy: Optional[str] = None, type_k: Optional[str] = None, type_v: Optional[str] = None,
                 logits_all: bool = False, verbose: bool = False, n_gpu_layers: int = 0,
                 chat_template: Optional[str] = None, **unsupported: Any):
        """model_path: a SmallThinker GGUF. n_ctx: the context (0: the model's training context).
        n_threads: None or 0: one per physical core. seed: for sampling when a call gives none
        (LLAMA_DEFAULT_SEED: random). memory: a budget ("1GiB"; None: the whole file is mapped);
        with one, experts stream from the file through a cache (cache_policy lru | lfu |
        lfu_cyclic). type_k / type_v: KV cache types (f16, bf16, q8_0, q4_0, f32).
        logits_all: eval() returns every token's logits. chat_template: None: the file's;
        "chatml"; or a file with a Jinja template (e.g. one that shows tools to the model). n_gpu_layers is accepted for
        compatibility: this engine computes on the CPU (anything but 0 or -1 is refused)."""
        if unsupported:
            raise TypeError("Llama(): smallthinker does not support %s" % ", ".join(sorted(unsupported)))
        if n_gpu_layers not in (0, -1):
            raise ValueError("n_gpu_layers: smallthinker computes on the CPU (give 0)")
        if n_ctx < 0 or n_batch <= 0 or (n_threads is not None and n_threads < 0):
            raise ValueError("n_ctx, n_batch and n_threads must not be negative (n_batch positive)")
        self.model_path = model_path
        self.verbose = verbose
        self.logits_all = logits_all
        self._model = c_void_p()
        self._session = c_void_p()
        opts = _ffi.ModelOptions()
        lib.st_model_options_init(byref(opts))
        opts.path = self._c(model_path)
        opts.n_threads = n_threads or 0
        opts.memory_budget = parse_memory(memory)
        opts.n_ctx = n_ctx
        opts.cache_policy, opts.kv_type_k, opts.kv_type_v = self._c(cache_policy), self._c(type_k), self._c(type_v)
        opts.chat_template = self._c(chat_template)
        check(lib.st_model_load(byref(opts), byref(self._model)), "loading %s" % model_path)
        info = _ffi.ModelInfo()
        info.struct_size = ctypes.sizeof(info)
        check(lib.st_model_get_info(self._model, byref(info)))
        self.info = info
        sopts = _ffi.SessionOptions()
        lib.st_session_options_init(byref(sopts))
        sopts.n_ctx, sopts.n_batch = n_ctx, n_batch
        check(lib.st_session_new(self._model, byref(sopts), byref(self._session)), "creating the session")
        self._stop_tokens = set(self._grow(lib.st_model_stop_tokens, self._model)) if info.has_tokenizer else set()
        self._seeds = random.Random(None if seed == LLAMA_DEFAULT_SEED else seed)
        self._tokens: List[int] = []
        self._last_logits: Optional[np.ndarray] = None

    @staticmethod
    def _c(text: Optional[str]) -> Optional[bytes]:
        """A str as the bytes a c_char_p field takes (the structure keeps them alive)."""
        return None if text is None else text.encode()

    @staticmethod
    def _grow(fn, *args) -> List[int]:
        buf, n = _ffi.grow_call(fn, *args, what=fn.__name__)
        return list(buf[:n])

    def close(self) -> None:
        """Frees the session and the model (also done when the Llama is collected)."""
        if getattr(self, "_session", None):
            lib.st_session_free(self._session)
            self._session = None
        if getattr(self, "_model", None):
            lib.st_model_free(self._model)
            self._model = None

    def __del__(self):
        self.close()

    def __enter__(self) -> "Llama":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the model and its text ----

    def n_ctx(self) -> int:
        return int(lib.st_session_n_ctx(self._session))

    def n_vocab(self) -> int:
        return int(self.info.n_vocab)

    def n_embd(self) -> int:
        return int(self.info.n_embd)

    @property
    def n_tokens(self) -> int:
        return len(self._tokens)

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> List[int]:
        """Token ids of UTF-8 `text`. special: special-token text ("<|im_start|>") becomes its id
        (False: plain text). add_bos is accepted for compatibility: the model's tokenizer decides
        (SmallThinker's adds no BOS)."""
        del add_bos
        if isinstance(text, str):
            text = text.encode()
        buf, n = _ffi.grow_call(lib.st_tokenize, self._model, text, len(text), 1 if special else 0,
                                what="tokenize", first=max(16, len(text) + 8))
        return list(buf[:n])

    def detokenize(self, tokens: Sequence[int], prev_tokens: Optional[Sequence[int]] = None,
                   special: bool = False) -> bytes:
        """The bytes `tokens` decode to (control tokens decode to nothing)."""
        del prev_tokens, special
        ids = _ffi.int32_array(list(tokens))
        buf, n = _ffi.grow_call(lib.st_detokenize, self._model, ids, len(tokens), what="detokenize",
                                kind=ctypes.c_char, first=max(16, 8 * len(tokens)))
        return buf.raw[:n]

    def token_eos(self) -> int:
        return min(self._stop_tokens) if self._stop_tokens else -1

    def apply_chat_template(self, messages: List[Dict[str, Any]], add_generation_prompt: bool = True) -> str:
        msgs = self._chat_messages(messages)
        buf, n = _ffi.grow_call(lib.st_chat_apply_template, self._model, msgs, len(msgs),
                                1 if add_generation_prompt else 0, what="chat template", kind=ctypes.c_char, first=4096)
        return buf.raw[:n].decode(errors="replace")

    def _chat_messages(self, messages: List[Dict[str, Any]]):
        arr = (_ffi.ChatMessage * len(messages))()
        for i, m in enumerate(messages):
            content = m.get("content") or ""
            if isinstance(content, list):  # OpenAI content parts: only text ones
                if any(p.get("type") != "text" for p in content):
                    raise ValueError("messages[%d].content: only text parts are supported" % i)
                content = "".join(p.get("text", "") for p in content)
            if m.get("role") not in ("system", "user", "assistant"):
                raise ValueError("messages[%d].role %r: use system, user, assistant (or tool, with tool "
                                 "results)" % (i, m.get("role")))
            arr[i].role, arr[i].content = self._c(m["role"]), self._c(str(content))
        return arr

    def chat_tokens(self, messages: List[Dict[str, Any]], add_generation_prompt: bool = True) -> List[int]:
        msgs = self._chat_messages(messages)
        return self._grow(lib.st_chat_tokens, self._model, msgs, len(msgs), 1 if add_generation_prompt else 0)

    @staticmethod
    def _json_messages(messages: List[Dict[str, Any]]) -> bytes:
        """OpenAI messages as the library's JSON (content null, as tool-call turns have it, as "")."""
        out = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
                raise ValueError("messages[%d].role: use system, user, assistant or tool" % i)
            m = dict(m)
            if m.get("content") is None:
                m["content"] = ""
            elif isinstance(m["content"], list):
                m["content"] = "".join(p.get("text", "") for p in m["content"] if p.get("type") == "text")
            if m.get("tool_calls"):
                m["tool_calls"] = [Llama._template_call(c, "messages[%d].tool_calls[%d]" % (i, k))
                                   for k, c in enumerate(m["tool_calls"])]
            out.append(m)
        return json.dumps(out, ensure_ascii=False).encode()

    @staticmethod
    def _template_call(call: Dict[str, Any], where: str) -> Dict[str, Any]:
        """A tool call as templates take it: OpenAI sends function.arguments as a JSON string,
        templates (Qwen's `tool_call.arguments | tojson`) expect the object (as the server does)."""
        fn = dict(call.get("function") or {})
        if isinstance(fn.get("arguments"), str):
            try:
                fn["arguments"] = json.loads(fn["arguments"]) if fn["arguments"].strip() else {}
            except ValueError:
                raise ValueError("%s.function.arguments is not valid JSON" % where) from None
        return dict(call, function=fn)

    def chat_json_tokens(self, messages: List[Dict[str, Any]], tools: Optional[List[Dict[str, Any]]] = None,
                         add_generation_prompt: bool = True) -> List[int]:
        """The template's rendering of OpenAI-shaped messages (tool_calls, role "tool") and tools."""
        tools_json = json.dumps(tools, ensure_ascii=False).encode() if tools else None
        return self._grow(lib.st_chat_json_tokens, self._model, self._json_messages(messages), tools_json,
                          1 if add_generation_prompt else 0)

    def chat_json_text(self, messages: List[Dict[str, Any]], tools: Optional[List[Dict[str, Any]]] = None,
                       add_generation_prompt: bool = True) -> str:
        tools_json = json.dumps(tools, ensure_ascii=False).encode() if tools else None
        buf, n = _ffi.grow_call(lib.st_chat_json_text, self._model, self._json_messages(messages), tools_json,
                                1 if add_generation_prompt else 0, what="chat template", kind=ctypes.c_char,
                                first=4096)
        return buf.raw[:n].decode(errors="replace")

    # ---- the context ----

    def reset(self) -> None:
        check(lib.st_session_reset(self._session))
        self._tokens = []
        self._last_logits = None

    def _eval_ptr(self, tokens: Sequence[int]):
        check(lib.st_session_eval(self._session, _ffi.int32_array(tokens), len(tokens)), "eval")
        self._tokens.extend(tokens)
        ptr, n = POINTER(c_float)(), c_size_t()
        check(lib.st_session_logits(self._session, byref(ptr), byref(n)))
        return ptr

    def eval(self, tokens: Sequence[int]) -> np.ndarray:
        """Appends tokens to the context; returns the last token's logits ([n_vocab] float32),
        or with logits_all every token's ([len(tokens), n_vocab], evaluated one by one)."""
        tokens = [int(t) for t in tokens]
        if not tokens:
            raise ValueError("eval: no tokens")
        if self.logits_all:
            rows = [np.ctypeslib.as_array(self._eval_ptr([t]), (self.n_vocab(),)).copy() for t in tokens]
            self._last_logits = rows[-1]
            return np.stack(rows)
        self._last_logits = np.ctypeslib.as_array(self._eval_ptr(tokens), (self.n_vocab(),)).copy()
        return self._last_logits

    @property
    def scores(self) -> Optional[np.ndarray]:
        """The last evaluated token's logits (None before any eval)."""
        return self._last_logits

    def save_state(self) -> LlamaState:
        buf, n = _ffi.grow_call(lib.st_session_save_state, self._session, what="save_state", kind=ctypes.c_char,
                                first=64 + 4 * len(self._tokens))
        return LlamaState(buf.raw[:n], len(self._tokens))

    def load_state(self, state: LlamaState) -> None:
        check(lib.st_session_load_state(self._session, state.state, len(state.state)), "load_state")
        self._tokens = self._grow(lib.st_session_tokens, self._session)
        self._last_logits = None
        if self._tokens:
            ptr, n = POINTER(c_float)(), c_size_t()
            check(lib.st_session_logits(self._session, byref(ptr), byref(n)))
            self._last_logits = np.ctypeslib.as_array(ptr, (n.value,)).copy()

    def runtime_stats(self) -> Dict[str, Any]:
        """The expert cache's counters (hit rate, bytes read, ...) and this context's ReGLU zeros."""
        s = _ffi.RuntimeStats()
        s.struct_size = ctypes.sizeof(s)
        check(lib.st_model_runtime_stats(self._model, byref(s)))
        out = {name: getattr(s, name) for name, _ in s._fields_ if name != "struct_size"}
        neurons, zero = ctypes.c_uint64(), ctypes.c_uint64()
        check(lib.st_session_reglu_stats(self._session, byref(neurons), byref(zero)))
        out["reglu_neurons"], out["reglu_zero"] = neurons.value, zero.value
        return out

    # ---- generation ----

    def _sampling(self, temperature: float, top_k: int, top_p: float, min_p: float, repeat_penalty: float,
                  presence_penalty: float, frequency_penalty: float, seed: Optional[int],
                  json_schema: Optional[Any] = None, json_object: bool = False) -> _ffi.SamplingParams:
        p = _ffi.SamplingParams()
        lib.st_sampling_params_init(byref(p))
        p.temperature, p.top_k, p.top_p, p.min_p = temperature, top_k, top_p, min_p
        p.repeat_penalty, p.presence_penalty, p.frequency_penalty = repeat_penalty, presence_penalty, frequency_penalty
        p.seed = seed if seed is not None and seed >= 0 else self._seeds.getrandbits(63)
        p.json_object = 1 if json_object or json_schema is not None else 0
        if json_schema is not None:
            p.json_schema = self._c(json_schema if isinstance(json_schema, str) else json.dumps(json_schema))
        return p

    def generate_tokens(self, prompt: Sequence[int], params: _ffi.SamplingParams, max_tokens: int = -1,
                        logit_bias: Optional[Dict[int, float]] = None,
                        n_logprobs: int = 0, tools: Optional[ToolSpec] = None
                        ) -> Iterator[Tuple[int, Optional[float], List[Tuple[int, float]]]]:
        """Empties the context, evaluates `prompt`, then yields (token, logprob, top) per sampled
        token until a stop token (yielded too), max_tokens (<= 0: no limit) or a full context.
        tools: the sampler is constrained to tool calls (see tools.py).
        Each step is a call into the library, so Ctrl-C (KeyboardInterrupt) stops it within
        one token's time and leaves the context consistent."""
        prompt = [int(t) for t in prompt]
        if not prompt:
            raise ValueError("prompt: no tokens")
        if len(prompt) >= self.n_ctx():
            raise ValueError("prompt: %d tokens do not fit the context of %d (n_ctx)" % (len(prompt), self.n_ctx()))
        self.reset()
        sampler = _Sampler(self._model, params, tools)
        sampler.accept_prompt(prompt)
        logits = self._eval_ptr(prompt)
        n_vocab, n = self.n_vocab(), 0
        bias = self._bias_arrays(logit_bias)
        while max_tokens <= 0 or n < max_tokens:
            src = logits
            if bias is not None:
                biased = np.ctypeslib.as_array(logits, (n_vocab,)).copy()
                biased[bias[0]] += bias[1]
                src = biased.ctypes.data_as(POINTER(c_float))
            token, logprob, top = sampler.sample(src, n_vocab, n_logprobs)
            sampler.accept(token)
            n += 1
            yield token, logprob, top
            if token in self._stop_tokens or (max_tokens > 0 and n >= max_tokens) or len(self._tokens) >= self.n_ctx():
                return
            logits = self._eval_ptr([token])

    def _bias_arrays(self, logit_bias: Optional[Dict[int, float]]):
        if not logit_bias:
            return None
        ids = np.array([int(k) for k in logit_bias], dtype=np.int64)
        if ids.min() < 0 or ids.max() >= self.n_vocab():
            raise ValueError("logit_bias: token ids must be in [0, %d)" % self.n_vocab())
        return ids, np.array([float(v) for v in logit_bias.values()], dtype=np.float32)
