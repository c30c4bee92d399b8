#!/usr/bin/env python3
"""Writes smallthinker(1) from the command's own help, so the page never drifts from the CLI:
`smallthinker --help`, `--version` and every subcommand's `--help` (nested ones too) become a
roff man page, gzipped reproducibly (no timestamp) as Debian installs man pages.
  gen_manpage.py OUT.1.gz [--] COMMAND...   (COMMAND: the CLI, possibly behind an emulator)
Used by the build (cmake/manpage.cmake); help2man would only see the top-level --help."""
import gzip
import re
import subprocess
import sys

SEE_ALSO = ("The C API: smallthinker.h (pkg-config smallthinker; CMake find_package(smallthinker)). "
            "The Python package: import smallthinker (llama-cpp-python's API). README.md in the sources.")
EXAMPLES = [
    ("Generate text:", "smallthinker run \\-m model.gguf \\-p \"Once upon a time\" \\-n 64"),
    ("Chat within a 1 GiB memory budget (experts stream from the file):",
     "smallthinker chat \\-m model.gguf \\-\\-memory 1GiB"),
    ("Serve the OpenAI-compatible API on port 8080:", "smallthinker serve \\-m model.gguf \\-\\-port 8080"),
]


def run_help(cmd, args):
    r = subprocess.run(cmd + args, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(cmd + args), r.returncode, r.stderr))
    return r.stdout


def esc(text):
    """Text as roff shows it literally: backslashes, hyphens (\\-: not hyphenation points) and a
    leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def parse(help_text):
    """(description, usage, [(option spec, description)], [(subcommand, description)])."""
    lines = help_text.rstrip("\n").split("\n")
    desc, usage, options, subs, section = [], "", [], [], None
    for line in lines:
        if line.startswith("Usage:"):
            usage, section = line[len("Usage:"):].strip(), "usage"
        elif line in ("Options:", "Subcommands:", "Positionals:"):
            section = line[:-1]
        elif section is None:
            desc.append(line)
        elif not line.strip():
            continue
        elif section == "Subcommands":
            m = re.match(r"\s+(\S+)\s+(.*)", line)
            if m:
                subs.append((m.group(1), m.group(2).strip()))
        elif section in ("Options", "Positionals"):
            m = re.match(r"  (\S.*?)(?:\s{2,}(.*))?$", line)
            if line.startswith(" " * 10) and options:  # the description of the line above
                spec, d = options[-1]
                options[-1] = (spec, (d + " " + line.strip()).strip())
            elif m:
                options.append((m.group(1).strip(), (m.group(2) or "").strip()))
    return " ".join(d.strip() for d in desc if d.strip()), usage, options, subs


def options_roff(options):
    out = []
    for spec, d in options:
        if spec.startswith("-h,--help"):
            continue
        out += [".TP", "\\fB%s\\fR" % esc(spec), esc(d)]
    return out


def command_roff(cmd, path, depth):
    """The .SS section of one subcommand (path: its words after `smallthinker`) and its own."""
    desc, usage, options, subs = parse(run_help(cmd, path + ["--help"]))
    out = [".SS \"%s\"" % esc(" ".join(path)), esc(desc), ".PP", "Usage: \\fB%s\\fR" % esc(usage)]
    out += options_roff(options)
    for name, _ in subs:
        if depth < 3:
            out += command_roff(cmd, path + [name], depth + 1)
    return out


def page(cmd):
    version = run_help(cmd, ["--version"]).strip().split()[-1]
    desc, usage, options, subs = parse(run_help(cmd, ["--help"]))
    summary = desc.split(":", 1)[1].strip() if ":" in desc else desc
    out = [".\\\" Generated from `smallthinker --help` by scripts/gen_manpage.py; do not edit.",
           ".TH SMALLTHINKER 1 \"\" \"smallthinker %s\" \"User Commands\"" % esc(version),
           ".SH NAME", "smallthinker \\- %s" % esc(summary),
           ".SH SYNOPSIS", "\\fBsmallthinker\\fR [\\fIOPTIONS\\fR] \\fISUBCOMMAND\\fR [\\fISUBCOMMAND OPTIONS\\fR]",
           ".SH DESCRIPTION", esc(desc), ".PP", "Subcommands:"]
    for name, d in subs:
        out += [".TP", "\\fB%s\\fR" % esc(name), esc(d)]
    out += [".SH OPTIONS", ".TP", "\\fB\\-h, \\-\\-help\\fR", "Print the help message (of the command or a subcommand) and exit."]
    out += options_roff(options)
    out += [".SH COMMANDS"]
    for name, _ in subs:
        out += command_roff(cmd, [name], 1)
    out += [".SH EXAMPLES"]
    for what, example in EXAMPLES:
        out += [".PP", esc(what), ".RS", ".nf", example, ".fi", ".RE"]
    out += [".SH SEE ALSO", esc(SEE_ALSO)]
    del usage
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out, cmd = sys.argv[1], [a for a in sys.argv[2:] if a != "--"]
    text = page(cmd).encode()
    with open(out, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
        gz.write(text)


if __name__ == "__main__":
    main()
