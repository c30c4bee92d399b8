"""Tool calling for create_chat_completion: OpenAI's tools / tool_choice checked and turned into
the library's constrained sampler (st_sampler_new_tools), and the calls the model writes in the
Qwen/Hermes convention parsed back out of the text:
    text <tool_call>{"name": "f", "arguments": {...}}</tool_call> <tool_call>...</tool_call>
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Dict, List, Optional, Tuple

from . import _ffi

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_HEADER = re.compile(r'\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class ToolSpec:
    """The tools offered to the sampler and how it must use them."""

    def __init__(self, tools: List[Tuple[str, Optional[str]]], choice: int, parallel: bool):
        self.tools, self.choice, self.parallel = tools, choice, parallel

    def c_arrays(self):
        arr = (_ffi.Tool * max(1, len(self.tools)))()
        for i, (name, params) in enumerate(self.tools):
            arr[i].name = name.encode()
            arr[i].parameters = None if params is None else params.encode()
        return arr


def tool_spec(tools: Optional[List[Dict[str, Any]]], tool_choice: Any, parallel: bool) -> Optional[ToolSpec]:
    """OpenAI's tools and tool_choice as a ToolSpec (None: no tools offered and none asked);
    ValueError naming the field for anything malformed, as the server's 400s do."""
    specs: List[Tuple[str, Optional[str]]] = []
    for i, t in enumerate(tools or []):
        p = "tools[%d]" % i
        if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(t.get("function"), dict):
            raise ValueError("%s: must be {\"type\": \"function\", \"function\": {...}}" % p)
        fn = t["function"]
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("%s.function.name is required: 1 to 64 letters, digits, '_', '-' or '.'" % p)
        if any(name == n for n, _ in specs):
            raise ValueError("%s.function.name: two tools are named %r" % (p, name))
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise ValueError("%s.function.parameters must be a JSON Schema object" % p)
        specs.append((name, None if params is None else json.dumps(params)))
    if tool_choice is None:
        tool_choice = "auto"
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function") or {}
        name = fn.get("name") if isinstance(fn, dict) else None
        if tool_choice.get("type") != "function" or not isinstance(name, str):
            raise ValueError("tool_choice must be \"auto\", \"none\", \"required\" or "
                             "{\"type\": \"function\", \"function\": {\"name\": ...}}")
        named = [s for s in specs if s[0] == name]
        if not named:
            raise ValueError("tool_choice.function.name is %r, which is not one of the tools" % name)
        return ToolSpec(named, _ffi.TOOL_CHOICE_REQUIRED, parallel)
    choices = {"auto": _ffi.TOOL_CHOICE_AUTO, "required": _ffi.TOOL_CHOICE_REQUIRED, "none": _ffi.TOOL_CHOICE_NONE}
    if tool_choice not in choices:
        raise ValueError("tool_choice must be \"auto\", \"none\", \"required\" or a named function")
    if tool_choice == "required" and not specs:
        raise ValueError("tool_choice is \"required\" but there are no tools")
    if not specs:
        return None
    return ToolSpec(specs, choices[tool_choice], parallel)


def _prefix_kept(text: str, tag: str) -> int:
    """The length of the longest end of `text` that begins `tag` (held back until it is known)."""
    return next((k for k in range(min(len(tag) - 1, len(text)), 0, -1) if text.endswith(tag[:k])), 0)


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


class ToolCallParser:
    """Splits generated text, fed piece by piece, into content and tool calls. Events per push:
    ("content", text), ("open", index, id, name), ("arguments", index, text) -- the arguments'
    JSON text as it arrives, so a stream reassembles to the whole reply's calls. Whitespace
    around calls is dropped; a block that is no call stays content."""

    def __init__(self):
        self.buf = ""
        self.in_call = False
        self.after_call = False
        self.calls: List[Dict[str, Any]] = []  # {"id", "name", "arguments"}
        self._reset_call()

    def _reset_call(self) -> None:
        self.body, self.opened, self.args_done = "", False, False
        self.depth, self.in_str, self.esc, self.scanned = 0, False, False, 0

    def push(self, text: str) -> List[tuple]:
        self.buf += text
        out: List[tuple] = []
        while self._step(out):
            pass
        return out

    def finish(self) -> List[tuple]:
        out: List[tuple] = []
        if self.in_call:
            self.body += self.buf
            self.buf = ""
            self._scan(out)
            self._close(out, closed=False)
        else:
            self._content(self.buf, out)
            self.buf = ""
        return out

    def _content(self, text: str, out: List[tuple]) -> None:
        if self.after_call:  # whitespace after a call is dropped
            text = text.lstrip()
        if text:
            out.append(("content", text))
            self.after_call = False

    def _step(self, out: List[tuple]) -> bool:
        if not self.in_call:
            at = self.buf.find(OPEN)
            if at < 0:  # hold back what may begin an open tag, and whitespace that may precede one
                keep = _prefix_kept(self.buf, OPEN)
                safe = self.buf[:len(self.buf) - keep].rstrip()
                self._content(safe, out)
                self.buf = self.buf[len(safe):]
                return False
            self._content(self.buf[:at].rstrip(), out)
            self.buf = self.buf[at + len(OPEN):]
            self.in_call = True
            self._reset_call()
            return True
        end = self.buf.find(CLOSE)
        if end < 0:  # the body so far, less what may begin the close tag
            keep = _prefix_kept(self.buf, CLOSE)
            self.body += self.buf[:len(self.buf) - keep]
            self.buf = self.buf[len(self.buf) - keep:]
        else:
            self.body += self.buf[:end]
            self.buf = self.buf[end + len(CLOSE):]
        self._scan(out)
        if end < 0:
            return False
        self._close(out, closed=True)
        return True

    def _scan(self, out: List[tuple]) -> None:
        """Passes on the name once known and the arguments' text as it arrives."""
        if not self.opened:
            m = _HEADER.match(self.body)
            if not m or m.end() == len(self.body):  # (the arguments' value not begun: more space may come)
                return
            self.opened = True
            self.calls.append({"id": _call_id(), "name": json.loads('"%s"' % m.group(1)), "arguments": ""})
            out.append(("open", len(self.calls) - 1, self.calls[-1]["id"], self.calls[-1]["name"]))
            self.scanned = m.end()
        start = self.scanned
        i = start
        while i < len(self.body) and not self.args_done:
            c = self.body[i]
            if self.in_str:
                self.esc, self.in_str = (False, True) if self.esc else (c == "\\", c != '"')
            elif c == '"':
                self.in_str = True
            elif c in "{[":
                self.depth += 1
            elif c in "}]":
                self.depth -= 1
                if self.depth == 0:
                    self.args_done = True
            i += 1
        self.scanned = i
        if i > start:
            self.calls[-1]["arguments"] += self.body[start:i]
            out.append(("arguments", len(self.calls) - 1, self.body[start:i]))

    def _close(self, out: List[tuple], closed: bool) -> None:
        self.in_call = False
        self.after_call = True
        if self.opened:
            return
        try:  # not in the expected order: the whole block, once closed
            obj = json.loads(self.body)
            name, args = obj["name"], obj.get("arguments", {})
            if not isinstance(name, str):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            text = OPEN + self.body + (CLOSE if closed else "")
            out.append(("content", text))
            return
        self.calls.append({"id": _call_id(), "name": name, "arguments": json.dumps(args)})
        out.append(("open", len(self.calls) - 1, self.calls[-1]["id"], name))
        out.append(("arguments", len(self.calls) - 1, self.calls[-1]["arguments"]))
