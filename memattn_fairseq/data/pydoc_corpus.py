"""The embedded quickstart corpus: English prose of the Python Language Reference.

Source: the ``pydoc_data.topics`` module of the CPython 3.11 standard library (the reference manual's topic texts
that ``help()`` shows), under the Python Software Foundation License. The files written here are shipped in
``data/pydoc-topics/`` so every machine trains on identical text; this module rebuilds them:

    python -m memattn_fairseq.data.pydoc_corpus data/pydoc-topics

Tokenisation is WikiText-style: words and punctuation split by spaces, one paragraph per line. Paragraphs are split
by a stable hash of (topic, index): about 90% train, 5% valid, 5% test.
"""
import argparse
import hashlib
import os
import re

TOKEN = re.compile(r"\w+|[^\w\s]")


def paragraphs(text: str):
    for block in re.split(r"\n\s*\n", text):
        tokens = TOKEN.findall(block)
        if sum(t[0].isalnum() for t in tokens) >= 6:  # skips rule lines such as "* * * *"
            yield " ".join(tokens)


def split_of(key: str) -> str:
    bucket = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 20
    return "valid" if bucket == 0 else "test" if bucket == 1 else "train"


def build(out_dir: str) -> dict:
    from pydoc_data.topics import topics

    lines = {"train": [], "valid": [], "test": []}
    for topic in sorted(topics):
        for index, paragraph in enumerate(paragraphs(topics[topic])):
            lines[split_of(f"{topic}/{index}")].append(paragraph)
    os.makedirs(out_dir, exist_ok=True)
    for split, rows in lines.items():
        with open(os.path.join(out_dir, f"{split}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
    return {split: sum(len(r.split()) for r in rows) for split, rows in lines.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    counts = build(parser.parse_args().out_dir)
    print(" ".join(f"{split}={n} tokens" for split, n in counts.items()))
