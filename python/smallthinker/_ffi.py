"""ctypes bindings of libsmallthinker.so (include/smallthinker.h). ctypes releases the GIL
during every call into the library, so other Python threads run while the engine computes.

The library is looked for, in order: $SMALLTHINKER_LIBRARY, the copy bundled in this package
(pip install at the repository root copies the built one), then the system's
(ctypes.util.find_library, e.g. from the Debian package)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import POINTER, c_char_p, c_double, c_float, c_int, c_int32, c_int64, c_size_t, c_uint64, c_void_p
from typing import Optional

API_VERSION = 3  # the header's SMALLTHINKER_API_VERSION these bindings were written for

ST_OK = 0
ST_ERR_BUFFER_TOO_SMALL = 4
ST_ERR_CONTEXT_FULL = 5

PROGRESS_FN = ctypes.CFUNCTYPE(None, c_uint64, c_uint64, c_void_p)
TOKEN_FN = ctypes.CFUNCTYPE(c_int, c_int32, POINTER(ctypes.c_char), c_size_t, c_void_p)


class ModelOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("path", c_char_p), ("n_threads", c_int32),
                ("memory_budget", c_uint64), ("n_ctx", c_int64), ("progress", PROGRESS_FN),
                ("progress_user_data", c_void_p), ("cache_policy", c_char_p),
                ("kv_type_k", c_char_p), ("kv_type_v", c_char_p), ("chat_template", c_char_p)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("name", ctypes.c_char * 128), ("n_layer", c_int32),
                ("n_embd", c_int64), ("n_head", c_int32), ("n_head_kv", c_int32), ("head_dim", c_int64),
                ("n_expert", c_int32), ("n_expert_used", c_int32), ("n_ff_exp", c_int64),
                ("n_vocab", c_int64), ("n_ctx_train", c_int64), ("n_threads", c_int32),
                ("has_tokenizer", c_int32), ("file_bytes", c_uint64)]


class ChatMessage(ctypes.Structure):
    _fields_ = [("role", c_char_p), ("content", c_char_p)]


class Tool(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("parameters", c_char_p)]


TOOL_CHOICE_AUTO, TOOL_CHOICE_REQUIRED, TOOL_CHOICE_NONE = 0, 1, 2


class SessionOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("n_ctx", c_int64), ("n_batch", c_int64),
                ("kv_type_k", c_char_p), ("kv_type_v", c_char_p)]


class RuntimeStats(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("budgeted", c_int32), ("expert_hits", c_uint64),
                ("expert_misses", c_uint64), ("expert_hit_rate", c_double), ("experts_read", c_uint64),
                ("bytes_read", c_uint64), ("io_wait_seconds", c_double), ("cache_slots", c_int32),
                ("cache_resident", c_int32), ("prefetched", c_uint64), ("speculated", c_uint64),
                ("lookahead_accuracy", c_double)]


class SamplingParams(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("temperature", c_float), ("top_k", c_int32), ("top_p", c_float),
                ("min_p", c_float), ("repeat_penalty", c_float), ("repeat_last_n", c_int32),
                ("presence_penalty", c_float), ("frequency_penalty", c_float), ("seed", c_uint64),
                ("json_object", c_int32), ("json_schema", c_char_p)]


class SmallThinkerError(RuntimeError):
    """A failed call into libsmallthinker: .status is the st_status name, the message the library's."""

    def __init__(self, status: str, message: str):
        super().__init__("%s: %s" % (status, message))
        self.status = status


def _candidates() -> list:
    here = os.path.dirname(os.path.abspath(__file__))
    found = [os.environ.get("SMALLTHINKER_LIBRARY", "")]
    found += [os.path.join(here, f) for f in sorted(os.listdir(here)) if f.startswith("libsmallthinker.so")]
    found.append(ctypes.util.find_library("smallthinker") or "")
    return [f for f in found if f]


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("smallthinker: libsmallthinker.so not found (set SMALLTHINKER_LIBRARY to the library, "
                      "or install the package from a build tree / the Debian package). Tried: %s" %
                      ("; ".join(errors) or "nothing"))


def _declare(lib: ctypes.CDLL) -> None:
    i32p, i64p, szp = POINTER(c_int32), POINTER(c_int64), POINTER(c_size_t)
    sig = {
        "st_api_version": (c_int, []),
        "st_version_string": (c_char_p, []),
        "st_status_name": (c_char_p, [c_int]),
        "st_last_error": (c_char_p, []),
        "st_model_options_init": (None, [POINTER(ModelOptions)]),
        "st_model_load": (c_int, [POINTER(ModelOptions), POINTER(c_void_p)]),
        "st_model_free": (None, [c_void_p]),
        "st_model_get_info": (c_int, [c_void_p, POINTER(ModelInfo)]),
        "st_model_stop_tokens": (c_int, [c_void_p, i32p, c_size_t, szp]),
        "st_tokenize": (c_int, [c_void_p, c_char_p, c_size_t, c_int, i32p, c_size_t, szp]),
        "st_detokenize": (c_int, [c_void_p, i32p, c_size_t, c_char_p, c_size_t, szp]),
        "st_chat_tokens": (c_int, [c_void_p, POINTER(ChatMessage), c_size_t, c_int, i32p, c_size_t, szp]),
        "st_chat_apply_template": (c_int, [c_void_p, POINTER(ChatMessage), c_size_t, c_int, c_char_p, c_size_t, szp]),
        "st_chat_json_tokens": (c_int, [c_void_p, c_char_p, c_char_p, c_int, i32p, c_size_t, szp]),
        "st_chat_json_text": (c_int, [c_void_p, c_char_p, c_char_p, c_int, c_char_p, c_size_t, szp]),
        "st_sampler_new_tools": (c_int, [c_void_p, POINTER(SamplingParams), POINTER(Tool), c_size_t, c_int, c_int,
                                         POINTER(c_void_p)]),
        "st_session_options_init": (None, [POINTER(SessionOptions)]),
        "st_session_new": (c_int, [c_void_p, POINTER(SessionOptions), POINTER(c_void_p)]),
        "st_session_free": (None, [c_void_p]),
        "st_session_eval": (c_int, [c_void_p, i32p, c_size_t]),
        "st_session_logits": (c_int, [c_void_p, POINTER(POINTER(c_float)), szp]),
        "st_session_n_past": (c_int64, [c_void_p]),
        "st_session_n_ctx": (c_int64, [c_void_p]),
        "st_session_reset": (c_int, [c_void_p]),
        "st_session_tokens": (c_int, [c_void_p, i32p, c_size_t, szp]),
        "st_session_save_state": (c_int, [c_void_p, c_void_p, c_size_t, szp]),
        "st_session_load_state": (c_int, [c_void_p, c_void_p, c_size_t]),
        "st_session_reglu_stats": (c_int, [c_void_p, POINTER(c_uint64), POINTER(c_uint64)]),
        "st_model_runtime_stats": (c_int, [c_void_p, POINTER(RuntimeStats)]),
        "st_sampling_params_init": (None, [POINTER(SamplingParams)]),
        "st_sampler_new": (c_int, [c_void_p, POINTER(SamplingParams), POINTER(c_void_p)]),
        "st_sampler_free": (None, [c_void_p]),
        "st_sampler_sample": (c_int, [c_void_p, POINTER(c_float), c_size_t, i32p]),
        "st_sampler_sample_logprobs": (c_int, [c_void_p, POINTER(c_float), c_size_t, i32p, POINTER(c_float), c_size_t,
                                               i32p, POINTER(c_float)]),
        "st_sampler_accept": (c_int, [c_void_p, i32p, c_size_t]),
        "st_sampler_accept_prompt": (c_int, [c_void_p, i32p, c_size_t]),
        "st_sampler_json_complete": (c_int, [c_void_p, POINTER(c_int)]),
        "st_session_generate": (c_int, [c_void_p, i32p, c_size_t, c_int32, POINTER(SamplingParams), TOKEN_FN, c_void_p,
                                        szp]),
    }
    del i64p
    for name, (restype, argtypes) in sig.items():
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = argtypes


lib = _load()
if lib.st_api_version() < API_VERSION:
    raise ImportError("smallthinker: the library %s implements C API version %d, these bindings need %d" %
                      (lib._name, lib.st_api_version(), API_VERSION))
_declare(lib)


def check(status: int, what: str = "") -> None:
    """Raises SmallThinkerError with this thread's last error when status is not ST_OK."""
    if status != ST_OK:
        name = lib.st_status_name(status).decode()
        message = lib.st_last_error().decode(errors="replace")
        raise SmallThinkerError(name, ("%s: %s" % (what, message)) if what else message)


def int32_array(values) -> "ctypes.Array":
    return (c_int32 * len(values))(*values)


def grow_call(fn, *args, what: str, kind=c_int32, first: int = 256) -> "tuple":
    """Calls an st_* function that writes into a caller's buffer, growing it on
    ST_ERR_BUFFER_TOO_SMALL: returns (buffer, length)."""
    n = c_size_t(0)
    capacity = first
    for _ in range(2):
        buf = ctypes.create_string_buffer(capacity) if kind is ctypes.c_char else (kind * capacity)()
        status = fn(*args, buf, capacity, ctypes.byref(n))
        if status != ST_ERR_BUFFER_TOO_SMALL:
            check(status, what)
            return buf, n.value
        capacity = max(n.value, 1)
    check(status, what)
    return buf, n.value


def version() -> Optional[str]:
    return lib.st_version_string().decode()
