"""`smallthinker eval`: multiple-choice log-likelihood accuracy (docs/EVAL.md) on a handcrafted
6-question task with SmallThinker-Nano. Every choice's summed log-probability and token count
printed with --verbose is checked against the PyTorch implementation of the model
(train/model.py loading the same GGUF, text tokenized by train/tokenizer.py with the documented
joining rule); the predictions, acc / acc_norm and their standard errors against the values that
follow from the oracle's log-probabilities. Malformed task files give errors naming the line."""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("ST_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from harness import Results, st_bin  # noqa: E402

TASK = [
    {"question": "In the beginning God created the heaven and the", "choices": ["earth.", "sea.", "computer.", "moon."],
     "answer": 0},
    {"question": "And God said, Let there be light: and there was", "choices": ["darkness.", "light.", "bread."],
     "answer": "B"},
    {"question": "47 + 38 =", "choices": ["85", "75", "95", "84"], "answer": 0},
    {"question": "def add(a, b):\n    return a +", "choices": ["b", "c", "a"], "answer": "A"},
    {"question": "The LORD is my shepherd; I shall not ", "choices": ["want.", "eat.", "run."], "answer": 0},
    {"question": "16 + 27 =", "choices": ["34", "43", "42", "53"], "answer": 1},
]


def split(question, choice):
    """The documented rule: trailing spaces/tabs of the question move to the choice; one space
    joins them unless either side already has whitespace there."""
    stripped = question.rstrip(" \t")
    choice = question[len(stripped):] + choice
    if stripped and not stripped[-1].isspace() and not choice[0].isspace():
        choice = " " + choice
    return stripped, choice


def main():
    res = Results("eval")
    binary = st_bin(res)
    nano = os.path.join(ROOT, "models", "smallthinker-nano.gguf")
    if not binary or not res.check("nano model present", os.path.isfile(nano), nano):
        res.finish()
    tmp = tempfile.mkdtemp(prefix="st_eval_")
    task = os.path.join(tmp, "task.jsonl")
    with open(task, "w") as f:
        for item in TASK:
            f.write(json.dumps(item) + "\n")

    r = subprocess.run([binary, "eval", nano, task, "--verbose", "-t", "2"], capture_output=True, text=True, timeout=300)
    if not res.check("eval --verbose exits 0", r.returncode == 0, r.stderr[-1500:]):
        res.finish()
    out = r.stdout
    engine = [[(float(a), int(b)) for a, b in re.findall(r"logprob (-?[0-9.]+) tokens (\d+)", block)]
              for block in re.split(r"^\[\d+\]", out, flags=re.M)[1:]]
    res.check("one block of scores per question, one line per choice",
              [len(e) for e in engine] == [len(t["choices"]) for t in TASK], str([len(e) for e in engine]))

    # The oracle: PyTorch forward of question + choice, log-probabilities of the choice's tokens.
    sys.path.insert(0, os.path.join(ROOT, "train"))
    import torch  # noqa: E402
    from export import load_gguf  # noqa: E402
    torch.set_num_threads(2)
    model, tok = load_gguf(nano)
    model.eval()
    want = []
    for item in TASK:
        scores = []
        for c in item["choices"]:
            q, cont = split(item["question"], c)
            ctx = tok.encode(q, allow_special=False)
            whole = tok.encode(q + cont, allow_special=False)
            assert whole[:len(ctx)] == ctx and len(whole) > len(ctx)
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([whole]))[0].double(), dim=-1)
            s = sum(float(lp[p - 1, whole[p]]) for p in range(len(ctx), len(whole)))
            scores.append((s, len(whole) - len(ctx)))
        want.append(scores)

    worst = 0.0
    counts_ok = True
    for e_item, w_item in zip(engine, want):
        for (e_lp, e_n), (w_lp, w_n) in zip(e_item, w_item):
            worst = max(worst, abs(e_lp - w_lp) / max(1.0, abs(w_lp)))
            counts_ok &= e_n == w_n
    res.check("choice token counts equal the oracle's tokenization", counts_ok and len(engine) == len(want))
    res.check("choice log-probabilities match PyTorch (max rel diff %.1e, limit 1e-3)" % worst, worst <= 1e-3)

    # Predictions and accuracies follow from the oracle's scores (no near-ties in this task).
    answers = [t["answer"] if isinstance(t["answer"], int) else ord(t["answer"]) - ord("A") for t in TASK]
    pred = [max(range(len(w)), key=lambda i: w[i][0]) for w in want]
    pred_norm = [max(range(len(w)), key=lambda i: w[i][0] / w[i][1]) for w in want]
    got = re.findall(r"answer ([A-Z]), predicted ([A-Z]) \((correct|wrong)\), by mean ([A-Z])", out)
    res.check("predicted choices = the oracle's argmax (sum and per-token mean)",
              [(ord(g[1]) - 65, ord(g[3]) - 65) for g in got] == list(zip(pred, pred_norm)) and
              [ord(g[0]) - 65 for g in got] == answers, "engine %s oracle %s" % (got, list(zip(pred, pred_norm))))
    n = len(TASK)
    acc = sum(p == a for p, a in zip(pred, answers)) / n
    acc_norm = sum(p == a for p, a in zip(pred_norm, answers)) / n
    m = re.search(r"^acc      = ([0-9.]+) \+/- ([0-9.]+) \((\d+) questions\)$", out, re.M)
    mn = re.search(r"^acc_norm = ([0-9.]+) \+/- ([0-9.]+)", out, re.M)
    se = lambda p: math.sqrt(p * (1 - p) / (n - 1))  # noqa: E731
    res.check("accuracy line `acc      = X +/- Y (N questions)`: %.4f +/- %.4f" % (acc, se(acc)),
              m is not None and abs(float(m.group(1)) - acc) < 1e-4 and abs(float(m.group(2)) - se(acc)) < 1e-4 and
              int(m.group(3)) == n, out[-200:])
    res.check("acc_norm line: %.4f +/- %.4f" % (acc_norm, se(acc_norm)),
              mn is not None and abs(float(mn.group(1)) - acc_norm) < 1e-4 and abs(float(mn.group(2)) - se(acc_norm)) < 1e-4)

    # Without --verbose: only the summary on stdout.
    r = subprocess.run([binary, "eval", nano, task, "-t", "2"], capture_output=True, text=True, timeout=300)
    res.check("without --verbose only the two accuracy lines", r.returncode == 0 and len(r.stdout.strip().splitlines()) == 2,
              r.stdout)

    # Malformed files: errors name the file and line.
    bad_cases = [
        ('{"question": "q", "choices": ["a", "b"], "answer": 5}', "line 1"),
        ('{"question": "q", "choices": ["a", "b"], "answer": "E"}', "line 1"),
        ('{"question": "q", "choices": ["a"], "answer": 0}', "two choices"),
        ('{"question": "q", "choices": ["a", "b"], "answer": 0}\nnot json', "line 2"),
        ('{"choices": ["a", "b"], "answer": 0}', "question"),
    ]
    for text, expect in bad_cases:
        path = os.path.join(tmp, "bad.jsonl")
        with open(path, "w") as f:
            f.write(text + "\n")
        r = subprocess.run([binary, "eval", nano, path], capture_output=True, text=True, timeout=60)
        res.check("malformed task (%s): error names it" % expect,
                  r.returncode == 1 and expect in r.stderr and "bad.jsonl" in r.stderr, r.stderr.strip())
    res.finish()


if __name__ == "__main__":
    main()
