"""Corpora for the three curriculum stages (all deterministic given a seed).

Stage 1: King James Bible prose (Debian bible-kjv), verse references stripped, one chapter per
         document; every 40th chapter is held out for perplexity.
Stage 2: generated arithmetic ("23 + 45 = 68", differences) and small Python snippets, mixed with
         replayed prose.
Stage 3: supervised chat examples in ChatML (loss on the assistant turns only).
A fixed set of two-digit additions is held out of every stage for evaluation.
"""
import json
import random
import re
import subprocess

SYSTEM = "You are a helpful assistant."


def kjv_chapters():
    out = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], capture_output=True, text=True,
                         check=True).stdout
    chapters, cur, cur_key = [], [], None
    for line in out.splitlines():
        m = re.match(r"^(\S+?)(\d+):(\d+)\s+(.*)$", line)
        if not m:
            if cur and line.strip():          # continuation line of the previous verse
                cur[-1] += " " + line.strip()
            continue
        key = (m.group(1), m.group(2))
        if key != cur_key and cur:
            chapters.append("\n".join(cur))
            cur = []
        cur_key = key
        cur.append(m.group(4).strip())
    if cur:
        chapters.append("\n".join(cur))
    return chapters


def split_kjv(chapters):
    train = [c for i, c in enumerate(chapters) if i % 40 != 17]
    held = [c for i, c in enumerate(chapters) if i % 40 == 17]
    return train, held


def heldout_additions(n=200, seed=1234):
    rng = random.Random(seed)
    pairs = [(a, b) for a in range(10, 100) for b in range(10, 100)]
    rng.shuffle(pairs)
    return sorted(pairs[:n])


def worked_addition(a, b):
    """Column addition written out (a, b two-digit): units with carry, tens, then the result."""
    u = a % 10 + b % 10
    c = u // 10
    t = a // 10 + b // 10 + c
    return (f"{a % 10} + {b % 10} = {u}, carry {c}.\n"
            f"{a // 10} + {b // 10} + {c} = {t}.\n"
            f"{a} + {b} = {a + b}")


class Gen:
    """Generators for arithmetic, code and chat, avoiding the held-out addition pairs."""

    def __init__(self, seed, heldout):
        self.rng = random.Random(seed)
        self.held = set(heldout) | {(b, a) for a, b in heldout}

    def num(self):
        r = self.rng.random()
        if r < 0.75:
            return self.rng.randint(10, 99)
        if r < 0.92:
            return self.rng.randint(0, 9)
        return self.rng.randint(100, 999)

    def add_pair(self):
        while True:
            a, b = self.num(), self.num()
            if (a, b) not in self.held:
                return a, b

    def equation(self):
        if self.rng.random() < 0.6:
            a, b = self.add_pair()
            return f"{a} + {b} = {a + b}", (a, b, "+")
        a, b = self.add_pair()            # differences: (a+b) - a = b, never a held-out sum
        s = a + b
        return f"{s} - {a} = {b}", (s, a, "-")

    def arithmetic_doc(self):
        lines = [self.equation()[0] for _ in range(self.rng.randint(8, 20))]
        return "\n".join(lines) + "\n"

    NAMES = ["total", "count", "value", "result", "x", "y", "n", "acc", "score", "size"]
    FUNCS = ["add", "plus", "sum_two", "combine", "total_of"]

    def code_doc(self):
        r = self.rng
        k = r.randint(0, 4)
        a, b = self.add_pair()
        v1, v2 = r.sample(self.NAMES, 2)
        if k == 0:
            f = r.choice(self.FUNCS)
            return (f"def {f}(a, b):\n    return a + b\n\n\nprint({f}({a}, {b}))\n# {a + b}\n")
        if k == 1:
            return f"{v1} = {a}\n{v2} = {b}\nprint({v1} + {v2})\n# {a + b}\n"
        if k == 2:
            n = r.randint(2, 12)
            return (f"{v1} = 0\nfor i in range({n}):\n    {v1} += i\nprint({v1})\n# {n * (n - 1) // 2}\n")
        if k == 3:
            s = a + b
            return f"def sub(a, b):\n    return a - b\n\n\nprint(sub({s}, {a}))\n# {b}\n"
        items = [r.randint(1, 20) for _ in range(r.randint(2, 5))]
        return f"{v1} = {items}\nprint(sum({v1}))\n# {sum(items)}\n"

    def worked_doc(self):
        """Stage-2 arithmetic with worked two-digit additions (the format the chat answers use)."""
        r = self.rng
        parts = []
        for _ in range(r.randint(3, 6)):
            k = r.random()
            if k < 0.6:
                while True:
                    a, b = r.randint(10, 99), r.randint(10, 99)
                    if (a, b) not in self.held:
                        break
                parts.append(f"{a} + {b}:\n{worked_addition(a, b)}\n")
            elif k < 0.8:
                a, b = r.randint(0, 9), r.randint(0, 9)
                parts.append(f"{a} + {b} = {a + b}\n")
            else:
                parts.append(self.difference() + "\n")
        return "".join(parts)

    def difference(self):
        a, b = self.add_pair()
        return f"{a + b} - {a} = {b}"

    def chat(self, prose_lines, worked=False):
        """Returns list of (role, content) turns. worked=True: two-digit additions are answered
        with the written-out column addition."""
        r = self.rng
        k = r.random()
        if k < 0.55:
            a, b = self.add_pair()
            q = r.choice([f"What is {a} + {b}?", f"What is {a} plus {b}?", f"Calculate {a} + {b}.",
                          f"How much is {a} + {b}?", f"{a} + {b} = ?", f"Add {a} and {b}."])
            ans = f"{a} + {b} = {a + b}"
            if worked and 10 <= a <= 99 and 10 <= b <= 99:
                ans = worked_addition(a, b)
        elif k < 0.75:
            a, b = self.add_pair()
            s = a + b
            q = r.choice([f"What is {s} - {a}?", f"What is {s} minus {a}?", f"Calculate {s} - {a}.",
                          f"Subtract {a} from {s}."])
            ans = f"{s} - {a} = {b}"
        elif k < 0.85:
            line = r.choice(prose_lines)
            words = line.split()
            if len(words) < 6:
                return self.chat(prose_lines, worked)
            cut = r.randint(2, min(6, len(words) - 2))
            q = "Continue the text: " + " ".join(words[:cut])
            ans = " ".join(words[cut:])
        elif k < 0.92:
            f = r.choice(self.FUNCS)
            q = r.choice(["Write a Python function that adds two numbers.",
                          "Show me Python code to add two numbers.",
                          "How do I add two numbers in Python?"])
            ans = f"def {f}(a, b):\n    return a + b"
        else:
            q, ans = r.choice([
                ("Hello!", "Hello! How can I help you today?"),
                ("Hi", "Hello! How can I help you today?"),
                ("Who are you?", "I am SmallThinker-Nano, a tiny mixture-of-experts language model."),
                ("What can you do?", "I can add and subtract numbers, write tiny Python snippets "
                                     "and continue text in the style of the King James Bible."),
                ("Thank you!", "You are welcome!"),
                ("What is your name?", "My name is SmallThinker-Nano."),
            ])
        turns = []
        if r.random() < 0.5:
            turns.append(("system", SYSTEM))
        turns += [("user", q), ("assistant", ans)]
        return turns


def addition_chat(gen):
    """Stage-3 drill: a two-digit addition asked through the chat format, worked answer."""
    r = gen.rng
    while True:
        a, b = r.randint(10, 99), r.randint(10, 99)
        if (a, b) not in gen.held:
            break
    q = r.choice([f"What is {a} + {b}?", f"What is {a} + {b}?", f"What is {a} plus {b}?",
                  f"Calculate {a} + {b}.", f"How much is {a} + {b}?", f"Add {a} and {b}."])
    turns = [("system", SYSTEM)] if r.random() < 0.5 else []
    return turns + [("user", q), ("assistant", worked_addition(a, b))]


def chatml(turns, add_generation_prompt=False):
    s = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
    if add_generation_prompt:
        s += "<|im_start|>assistant\n"
    return s


def addition_prompt(a, b, system=True):
    turns = [("system", SYSTEM)] if system else []
    turns.append(("user", f"What is {a} + {b}?"))
    return chatml(turns, add_generation_prompt=True)


def write_heldout(path, pairs):
    with open(path, "w") as f:
        json.dump({"description": "Held-out two-digit additions (never seen in training in either "
                                  "order). Ask through the chat template with "
                                  "'What is A + B?'; the answer is correct when the last integer "
                                  "in the reply equals A + B.",
                   "system_prompt": SYSTEM,
                   "question_template": "What is {a} + {b}?",
                   "pairs": [[a, b, a + b] for a, b in pairs]}, f, indent=0)
