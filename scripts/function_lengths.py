#!/usr/bin/env python3
"""Lines per function body in C++ sources (the "fits on a screen" rule: <= 80 lines).

A brace counter, not a parser: comments and string literals are blanked, then each `{` at
namespace or class level is classified by the text of the statement before it (a function
when it ends like a signature: `)`, then qualifiers or a trailing return type, or a
constructor's initializer list). A function's length runs from the first line of its
signature to its closing brace; lambdas count in the function that holds them.

  scripts/function_lengths.py [--max N] [--top K] FILE_OR_DIR...
Prints the K longest functions; exits 1 when one is longer than N lines (default 80).
"""
import argparse
import pathlib
import re
import sys

SCOPE = re.compile(r"\b(class|struct|union|enum|namespace|extern)\b")
SIGNATURE_END = re.compile(r"\)\s*(const|noexcept|override|final|mutable|&|&&|\s)*(->[^;{}]*)?$")
INIT_LIST = re.compile(r"\)\s*:\s*\w")


def blank_comments_and_strings(text):
    """Same length and newlines, with comments, string and char literals as spaces."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'" and not (c == "'" and i > 0 and text[i - 1].isalnum()):  # 1'000 digit separators
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """(first line, last line, name) of each function body in the file."""
    text = blank_comments_and_strings(path.read_text())
    line_of = [0] * (len(text) + 1)
    line = 1
    for i, ch in enumerate(text):
        line_of[i] = line
        line += ch == "\n"
    found = []
    stmt_start = 0  # where the current statement at namespace/class level began
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in ";}":
            stmt_start = i + 1
        elif ch == "{":
            stmt = text[stmt_start:i]
            s = stmt.strip()
            close = match_brace(text, i)
            head = s.split("(")[0]
            if s.startswith("#") or SCOPE.search(head) or s.endswith("="):
                stmt_start = i + 1  # a scope: look inside it
            elif SIGNATURE_END.search(s) or (INIT_LIST.search(s) and s[-1:] in ")}"):
                first = stmt_start + (len(stmt) - len(stmt.lstrip()))
                name = re.findall(r"([~\w:]+|operator\S+)\s*\(", s)
                found.append((line_of[first], line_of[close], name[0] if name else "?"))
                i, stmt_start = close, close + 1
            else:
                i = close  # a braced initializer, part of the statement
        i += 1
    return found


def match_brace(text, i):
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text) - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--max", type=int, default=80)
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    files = []
    for p in map(pathlib.Path, a.paths):
        files += sorted(q for q in p.rglob("*") if q.suffix in (".cpp", ".h")) if p.is_dir() else [p]
    rows = sorted(((last - first + 1, f"{f}:{first}", name) for f in files for first, last, name in functions(f)),
                  reverse=True)
    for n, where, name in rows[: a.top]:
        print(f"{n:5d}  {where}  {name}")
    over = [r for r in rows if r[0] > a.max]
    print(f"{len(rows)} functions in {len(files)} files; {len(over)} longer than {a.max} lines")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
