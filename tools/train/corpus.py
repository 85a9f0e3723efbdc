#!/usr/bin/python3
"""corpus.py - build A-IO's training corpus and the held-out benchmark tasks.

Seeded and reproducible: the same installed Debian files give the same corpus.
Writes raw text per category to OUT (default /work/train-data/raw) and the task
files to bench/tasks/{code,math,qa,chat}.jsonl.

Categories:
  code  Python source of /usr/lib/python3.11 and /usr/lib/python3/dist-packages
        (tests and table-like files dropped); a set of files is held out.
  math  generated arithmetic "Q: 37+58=? A: 95", graded 1..4-digit operands,
        + - *, short chains (standard precedence).
  qa    "Q: What is the Debian package zsh? A: shell with lots of features",
        a fixed seeded subset of packages (apt-cache dumpavail).
  chat  fortunes (/usr/share/games/fortunes), a set held out.
Documents are written as JSON lines {"t": text} (one document per line) so that
newlines inside documents survive; train.py adds BOS/EOS.
"""
import argparse
import hashlib
import json
import os
import random
import re
import subprocess

SEED = 1234
N_QA_FACTS = 1000
N_TASKS = 150
CODE_ROOTS = ["/usr/lib/python3.11", "/usr/lib/python3/dist-packages"]
CODE_MAX_BYTES = 48 << 20
FORTUNE_DIR = "/usr/share/games/fortunes"


def stable_hash(s):
    return int(hashlib.sha1(s.encode()).hexdigest()[:12], 16)


# ---------------------------------------------------------------- code
def code_files():
    files = []
    for root in CODE_ROOTS:
        for d, dirs, names in os.walk(root):
            dirs[:] = sorted(x for x in dirs if x not in ("test", "tests", "__pycache__", "testing", "idle_test")
                             and not x.startswith("test_") and not x.endswith("-info"))
            if root == CODE_ROOTS[0] and d.startswith(os.path.join(root, "site-packages")):
                continue
            for n in sorted(names):
                if not n.endswith(".py") or n.startswith("test_") or n.endswith("_test.py"):
                    continue
                files.append(os.path.join(d, n))
    return files


def good_code(text):
    if len(text) < 200 or len(text) > 150_000:
        return False
    lines = text.split("\n")
    if max(len(l) for l in lines) > 400 and sum(len(l) > 200 for l in lines) > 5:
        return False
    digits = sum(c.isdigit() for c in text)
    if digits / len(text) > 0.12:  # numeric tables (encodings, unicode data)
        return False
    if "\t" in text[:20000] and text.count("\t") > len(lines):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def build_code(rng):
    seen = set()
    train, held = [], []
    total = 0
    files = code_files()
    rng.shuffle(files)
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        text = text.replace("\r\n", "\n")
        if not good_code(text):
            continue
        h = hashlib.sha1(text.encode()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        if stable_hash(path) % 24 == 0:
            held.append((path, text))
        else:
            if total > CODE_MAX_BYTES:
                continue
            train.append((path, text))
            total += len(text)
    return train, held


def code_prompt(text, rng, max_chars=1000):
    """The start of a file up to a line (<= max_chars), and the next non-blank line."""
    lines = text.split("\n")
    cands = []
    acc = 0
    for i, l in enumerate(lines[:-1]):
        acc += len(l) + 1
        if acc > max_chars:
            break
        nxt = lines[i + 1]
        if i >= 3 and nxt.strip() and len(nxt.strip()) >= 4:
            cands.append((i + 1, acc))
    if not cands:
        return None
    n, acc = rng.choice(cands)
    return "\n".join(lines[:n]) + "\n", lines[n]


# ---------------------------------------------------------------- math
def math_problem(rng, level=None):
    if level is None:
        level = rng.choices([1, 2, 3, 4, 5], weights=[3, 4, 3, 1, 2])[0]
    def num(d):
        return rng.randint(0 if d == 1 else 10 ** (d - 1), 10 ** d - 1)
    if level <= 4:
        op = rng.choice("+-*")
        d1 = level
        d2 = rng.randint(1, level)
        if op == "*" and level >= 3:
            d2 = rng.randint(1, 2)
        a, b = num(d1), num(d2)
        if rng.random() < 0.5:
            a, b = b, a
        expr = "%d%s%d" % (a, op, b)
    else:  # short chain: 3 operands, 1-2 digits
        n = rng.choice([3, 3, 4])
        parts = [str(num(rng.randint(1, 2)))]
        for _ in range(n - 1):
            parts.append(rng.choice("+-*"))
            parts.append(str(num(rng.randint(1, 2))))
        expr = "".join(parts)
    ans = eval(expr)
    return "Q: %s=? A:" % expr, str(ans), level


# ---------------------------------------------------------------- qa
def build_qa(rng):
    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, errors="replace").stdout
    facts = {}
    pkg = None
    for line in out.split("\n"):
        if line.startswith("Package: "):
            pkg = line[9:].strip()
        elif line.startswith("Description: ") and pkg:
            desc = line[13:].strip()
            if pkg not in facts and 8 <= len(desc) <= 70 and desc.isascii():
                facts[pkg] = desc
            pkg = None
    names = sorted(facts)
    rng.shuffle(names)
    chosen = sorted(names[:N_QA_FACTS])
    others = sorted(names[N_QA_FACTS:N_QA_FACTS + 2000])
    return [(n, facts[n]) for n in chosen], [(n, facts[n]) for n in others]


def qa_prompt(name):
    return "Q: What is the Debian package %s? A:" % name


# ---------------------------------------------------------------- chat
def build_chat():
    items = []
    for n in sorted(os.listdir(FORTUNE_DIR)):
        p = os.path.join(FORTUNE_DIR, n)
        if "." in n or not os.path.isfile(p):
            continue
        try:
            text = open(p, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        for f in re.split(r"\n%\n", text):
            f = f.strip("\n")
            if 20 <= len(f) <= 2000 and "\ufffd" not in f:
                items.append(f)
    items = sorted(set(items))
    return items


def chat_prompt(text):
    """Opening of a fortune: its first line, or the first half of a one-liner at a word boundary."""
    lines = text.split("\n")
    if len(lines) >= 2 and len(lines[0]) >= 10:
        return lines[0] + "\n", "\n".join(lines[1:])
    words = text.split(" ")
    if len(words) < 6:
        return None
    k = len(words) // 2
    return " ".join(words[:k]), " " + " ".join(words[k:])


def chat_task_prompt(text):
    """chat_prompt for the benchmark: only prose openings (no ASCII art, no indented headers)."""
    first = text.split("\n")[0]
    if first[:1].isspace() or sum(w.isalpha() for w in first.split()) < 3:
        return None
    if sum(c.isalpha() or c.isspace() for c in text) / len(text) < 0.85:
        return None
    return chat_prompt(text)


# ---------------------------------------------------------------- main
def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/work/train-data/raw")
    ap.add_argument("--tasks", default=os.path.join(os.path.dirname(__file__), "..", "..", "bench", "tasks"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.tasks, exist_ok=True)
    rng = random.Random(SEED)

    # code
    code_train, code_held = build_code(random.Random(SEED + 1))
    write_jsonl(os.path.join(a.out, "code.train.jsonl"), [{"t": t, "src": p} for p, t in code_train])
    write_jsonl(os.path.join(a.out, "code.val.jsonl"), [{"t": t, "src": p} for p, t in code_held])
    trng = random.Random(SEED + 2)
    code_tasks = []
    for p, t in code_held:
        r = code_prompt(t, trng)
        if r and len(code_tasks) < N_TASKS:
            code_tasks.append({"id": "code-%03d" % len(code_tasks), "category": "code",
                               "prompt": r[0], "answer": r[1], "source": p})

    # math: tasks first (held out), training problems exclude them
    mrng = random.Random(SEED + 3)
    math_tasks, held = [], set()
    per_level = N_TASKS // 5
    for lv in [1, 2, 3, 4, 5]:
        k = 0
        while k < per_level:
            q, ans, _ = math_problem(mrng, lv)
            if q in held:
                continue
            held.add(q)
            math_tasks.append({"id": "math-%03d" % len(math_tasks), "category": "math", "prompt": q,
                               "answer": ans, "level": lv})
            k += 1
    def math_docs(n, r):
        docs = []
        for _ in range(n):
            lines = []
            for _ in range(r.randint(1, 6)):
                q, ans, _ = math_problem(r)
                if q in held:
                    continue
                lines.append(q + " " + ans)
            if lines:
                docs.append({"t": "\n".join(lines)})
        return docs
    write_jsonl(os.path.join(a.out, "math.train.jsonl"), math_docs(400_000, random.Random(SEED + 4)))
    write_jsonl(os.path.join(a.out, "math.val.jsonl"), math_docs(3000, random.Random(SEED + 5)))

    # qa: tasks are drawn FROM the training facts (memorisation test)
    facts, others = build_qa(random.Random(SEED + 6))
    json.dump({"facts": facts, "others": others}, open(os.path.join(a.out, "qa.facts.json"), "w"))
    qrng = random.Random(SEED + 7)
    def qa_docs(n, r):
        docs = []
        for _ in range(n):
            k = r.randint(1, 4)
            docs.append({"t": "\n".join("%s %s" % (qa_prompt(nm), d) for nm, d in r.sample(facts, k))})
        return docs
    # one epoch = each fact once, shuffled into docs; train.py repeats the stream
    order = list(facts)
    qrng.shuffle(order)
    docs, i = [], 0
    for ep in range(8):  # 8 differently shuffled epochs so neighbours vary
        qrng.shuffle(order)
        i = 0
        while i < len(order):
            k = qrng.randint(1, 4)
            docs.append({"t": "\n".join("%s %s" % (qa_prompt(nm), d) for nm, d in order[i:i + k])})
            i += k
    write_jsonl(os.path.join(a.out, "qa.train.jsonl"), docs)
    write_jsonl(os.path.join(a.out, "qa.val.jsonl"), qa_docs(1000, random.Random(SEED + 8)))
    qa_tasks = [{"id": "qa-%03d" % i, "category": "qa", "prompt": qa_prompt(nm), "answer": " " + d}
                for i, (nm, d) in enumerate(random.Random(SEED + 9).sample(facts, N_TASKS))]
    for t in qa_tasks:
        t["answer"] = t["answer"][1:]

    # chat
    fortunes = build_chat()
    held_f = [f for f in fortunes if stable_hash(f) % 20 == 0]
    train_f = [f for f in fortunes if stable_hash(f) % 20 != 0]
    random.Random(SEED + 10).shuffle(train_f)
    write_jsonl(os.path.join(a.out, "chat.train.jsonl"), [{"t": f} for f in train_f])
    write_jsonl(os.path.join(a.out, "chat.val.jsonl"), [{"t": f} for f in held_f])
    chat_tasks = []
    for f in held_f:
        r = chat_task_prompt(f)
        if r and len(chat_tasks) < N_TASKS and len(r[0]) <= 400:
            chat_tasks.append({"id": "chat-%03d" % len(chat_tasks), "category": "chat",
                               "prompt": r[0], "answer": r[1]})

    # probe prompts (train: from training data; val: the task prompts themselves)
    prng = random.Random(SEED + 11)
    probes = []
    for p, t in code_train[:6000]:
        r = code_prompt(t, prng)
        if r:
            probes.append({"p": r[0], "c": "code"})
    for _ in range(6000):
        probes.append({"p": math_problem(prng)[0], "c": "math"})
    pool = facts + others
    for _ in range(6000):
        probes.append({"p": qa_prompt(prng.choice(pool)[0]), "c": "qa"})
    for f in train_f:
        r = chat_prompt(f)
        if r:
            probes.append({"p": r[0], "c": "chat"})
    prng.shuffle(probes)
    write_jsonl(os.path.join(a.out, "probe.train.jsonl"), probes)

    for name, rows in [("code", code_tasks), ("math", math_tasks), ("qa", qa_tasks), ("chat", chat_tasks)]:
        write_jsonl(os.path.join(a.tasks, name + ".jsonl"), rows)
    probe_val = [{"p": r["prompt"], "c": r["category"]} for rows in (code_tasks, math_tasks, qa_tasks, chat_tasks)
                 for r in rows]
    write_jsonl(os.path.join(a.out, "probe.val.jsonl"), probe_val)

    # text for the tokenizer (one sentence per line, category-balanced sample)
    srng = random.Random(SEED + 12)
    with open(os.path.join(a.out, "spm_input.txt"), "w") as f:
        for p, t in srng.sample(code_train, min(len(code_train), 600)):
            f.write(t + "\n")
        for d in math_docs(20000, srng):
            f.write(d["t"] + "\n")
        for nm, d in facts + others:
            f.write("%s %s\n" % (qa_prompt(nm), d))
        for fo in train_f:
            f.write(fo + "\n")
    stats = {"code_train_files": len(code_train), "code_train_bytes": sum(len(t) for _, t in code_train),
             "code_held_files": len(code_held), "qa_facts": len(facts), "fortunes_train": len(train_f),
             "fortunes_held": len(held_f), "probes": len(probes),
             "tasks": {k: len(v) for k, v in [("code", code_tasks), ("math", math_tasks), ("qa", qa_tasks),
                                              ("chat", chat_tasks)]}}
    json.dump(stats, open(os.path.join(a.out, "stats.json"), "w"), indent=1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
