"""Run the real fairseq command-line tools on tiny data, for end-to-end tests.

Every command runs as a subprocess of this interpreter's environment (``<venv>/bin/fairseq-*``) with
``--user-dir memattn_fairseq``; a failing command fails the test with its output tail.
"""
import os
import random
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_DIR = os.path.join(REPO, "memattn_fairseq")
CORPUS = os.path.join(REPO, "data", "pydoc-topics")
BIN = os.path.dirname(sys.executable)


def run(tool: str, *args, stdin: str = None, expect_fail: bool = False, cwd: str = None, timeout: int = 600):
    """Run ``fairseq-<tool>`` (or any executable path); returns combined stdout+stderr."""
    exe = tool if os.path.sep in tool else os.path.join(BIN, f"fairseq-{tool}")
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)  # checkpoints must load without it
    proc = subprocess.run([exe, *map(str, args)], input=stdin, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    if expect_fail:
        assert proc.returncode != 0, f"fairseq-{tool} succeeded unexpectedly:\n{output[-3000:]}"
    else:
        assert proc.returncode == 0, f"fairseq-{tool} failed ({proc.returncode}):\n{output[-5000:]}"
    return output


def lm_data(out_dir: str, train_lines: int = 400) -> str:
    """Binarised slice of the embedded corpus (real English prose) in ``out_dir``/bin."""
    raw = os.path.join(out_dir, "raw")
    os.makedirs(raw, exist_ok=True)
    for split, limit in (("train", train_lines), ("valid", 40), ("test", 40)):
        with open(os.path.join(CORPUS, f"{split}.txt")) as src, open(os.path.join(raw, f"{split}.txt"), "w") as dst:
            dst.writelines(line for _, line in zip(range(limit), src))
    dest = os.path.join(out_dir, "bin")
    run("preprocess", "--only-source", "--trainpref", f"{raw}/train.txt", "--validpref", f"{raw}/valid.txt",
        "--testpref", f"{raw}/test.txt", "--destdir", dest, "--thresholdsrc", "2", "--workers", "1")
    return dest


def mt_data(out_dir: str, train_pairs: int = 600, held_out: int = 40, langs=("src", "tgt")) -> str:
    """Binarised synthetic translation task (target = reversed source, renamed words) with a joined dictionary;
    ``held_out`` pairs each in valid and test, languages named ``langs``."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    raw = os.path.join(out_dir, "raw")
    os.makedirs(raw, exist_ok=True)
    source, target = langs
    for split, count in (("train", train_pairs), ("valid", held_out), ("test", held_out)):
        with open(f"{raw}/{split}.{source}", "w") as src, open(f"{raw}/{split}.{target}", "w") as tgt:
            for _ in range(count):
                sentence = [rng.choice(words) for _ in range(rng.randint(3, 10))]
                src.write(" ".join(sentence) + "\n")
                tgt.write(" ".join("x" + w for w in reversed(sentence)) + "\n")
    dest = os.path.join(out_dir, "bin")
    run("preprocess", "--source-lang", source, "--target-lang", target, "--trainpref", f"{raw}/train",
        "--validpref", f"{raw}/valid", "--testpref", f"{raw}/test", "--destdir", dest, "--joined-dictionary",
        "--workers", "1")
    return dest


TINY_LM = ["--decoder-layers", "2", "--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64",
           "--decoder-attention-heads", "4"]
TINY_MT = ["--encoder-layers", "2", "--decoder-layers", "2", "--encoder-embed-dim", "32", "--decoder-embed-dim", "32",
           "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64", "--encoder-attention-heads", "4",
           "--decoder-attention-heads", "4", "--share-all-embeddings"]
TRAIN_COMMON = ["--cpu", "--optimizer", "adam", "--lr", "0.002", "--log-format", "simple", "--log-interval", "5",
                "--no-epoch-checkpoints", "--num-workers", "0", "--seed", "1"]


def script(name: str, *args, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``bash scripts/<name>`` with this environment; returns the finished process (text stdout/stderr)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run(["bash", os.path.join(REPO, "scripts", name), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """The plugin's one-line error: exit status 2, no traceback, a last line naming every needle."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("memattn_fairseq: error: ")
    for needle in needles:
        assert needle in last, last
