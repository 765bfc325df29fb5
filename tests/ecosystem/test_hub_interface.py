"""fairseq's hub interface for every family: ``<Model>.from_pretrained(dir, checkpoint_file, data_name_or_path)``
loads a checkpoint trained by fairseq-train and gives ``.sample()``, ``.score()`` (language models) and
``.translate()`` (translation models), which must agree with the loaded model's own forward pass."""
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from cli_runner import REPO, TINY_LM, TINY_MT, TRAIN_COMMON, USER_DIR, lm_data, mt_data, run
from fairseq.models.transformer import TransformerModel
from fairseq.models.transformer_lm import TransformerLanguageModel

from memattn_fairseq.models.abc import AbcLanguageModel
from memattn_fairseq.models.abc import AbcTransformerModel
from memattn_fairseq.models.memformer_lm import MemformerLanguageModel
from memattn_fairseq.models.memsizer import MemSizerLanguageModel
from memattn_fairseq.models.memsizer import MemSizerTransformerModel

TINY_MEMFORMER = ["--decoder-layers", "1", "--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64",
                  "--decoder-attention-heads", "4", "--memformer-slots", "4", "--memformer-segment-length", "8",
                  "--tokens-per-sample", "16", "--batch-size", "4"]
LMS = {
    "abc_lm": (AbcLanguageModel, ["--task", "language_modeling", "--arch", "abc_lm", *TINY_LM, "--abc-slots", "4",
                                  "--tokens-per-sample", "32", "--max-tokens", "256"]),
    "memsizer_lm": (MemSizerLanguageModel, ["--task", "language_modeling", "--arch", "memsizer_lm", *TINY_LM,
                                            "--memsizer-slots", "4", "--tokens-per-sample", "32", "--max-tokens", "256"]),
    "memformer_lm": (MemformerLanguageModel, ["--task", "memformer_lm", "--arch", "memformer_lm_small",
                                              *TINY_MEMFORMER]),
}
MTS = {
    "abc_transformer": (AbcTransformerModel, ["--task", "translation", "--arch", "abc_transformer", *TINY_MT,
                                              "--max-tokens", "512"]),
    "memsizer_transformer": (MemSizerTransformerModel, ["--task", "translation", "--arch", "memsizer_transformer",
                                                        *TINY_MT, "--max-tokens", "512"]),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{name: (model class, checkpoint directory, data directory)}: each family trained for 3 updates."""
    root = tmp_path_factory.mktemp("hub")
    data = {"lm": lm_data(str(root / "lm"), train_lines=100), "mt": mt_data(str(root / "mt"), train_pairs=100)}
    jobs = {name: (cls, flags, data["lm"]) for name, (cls, flags) in LMS.items()}
    jobs.update({name: (cls, flags, data["mt"]) for name, (cls, flags) in MTS.items()})

    def train(name):
        _, flags, bin_dir = jobs[name]
        run("train", bin_dir, "--user-dir", USER_DIR, *flags, "--max-update", "3", "--save-dir", root / name,
            *TRAIN_COMMON)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(train, jobs))
    return {name: (cls, str(root / name), bin_dir) for name, (cls, _, bin_dir) in jobs.items()}


def load(trained, name, **overrides):
    cls, save_dir, bin_dir = trained[name]
    return cls.from_pretrained(save_dir, checkpoint_file="checkpoint_last.pt", data_name_or_path=bin_dir,
                               **overrides).eval()


@pytest.mark.parametrize("name", list(LMS))
def test_language_model_hub_scores_and_samples_like_the_model(trained, name):
    hub = load(trained, name)
    model = hub.models[0]
    assert type(model) is trained[name][0]
    sentence = "the value of an expression is the object"
    tokens = hub.encode(sentence)  # words, then </s>
    with torch.no_grad():  # the language_modeling convention: </s> then the words predict the words
        inputs = torch.cat([tokens[-1:], tokens[:-1]]).unsqueeze(0)
        lprobs = model.get_normalized_probs(model(inputs), log_probs=True)[0]
    expected = lprobs.gather(-1, tokens[:-1].unsqueeze(-1)).squeeze(-1)
    scored = hub.score(sentence)["positional_scores"]
    assert scored.shape == expected.shape and torch.allclose(scored, expected, atol=1e-4)

    prompt = "the value of"
    sampled = hub.sample(prompt, beam=1, max_len_b=5)  # greedy: the first new word is the model's argmax
    with torch.no_grad():
        prompt_tokens = hub.encode(prompt)
        inputs = torch.cat([prompt_tokens[-1:], prompt_tokens[:-1]]).unsqueeze(0)
        next_lprobs = model.get_normalized_probs(model(inputs), log_probs=True)[0, -1]
    dictionary = hub.tgt_dict
    next_lprobs[[dictionary.pad(), dictionary.eos()]] = -float("inf")
    assert sampled.startswith(prompt + " ")
    assert sampled.split()[3] == dictionary[next_lprobs.argmax()]


@pytest.mark.parametrize("name", list(MTS))
def test_translation_hub_translates_like_the_model(trained, name):
    hub = load(trained, name, source_lang="src", target_lang="tgt")
    model = hub.models[0]
    assert type(model) is trained[name][0]
    sources = ["w1 w2 w3 w4", "w5 w6", "w7 w8 w9 w10 w11 w12"]
    translations = hub.translate(sources, beam=2, max_len_b=8)
    assert translations == [hub.translate(s, beam=2, max_len_b=8) for s in sources]  # batching changes nothing

    source = hub.encode(sources[0])
    best = hub.generate([source], beam=2, max_len_b=8)[0][0]
    assert translations[0] == hub.decode(best["tokens"])
    with torch.no_grad():  # teacher-forced log-probabilities of the chosen hypothesis
        previous = torch.cat([best["tokens"][-1:], best["tokens"][:-1]]).unsqueeze(0)
        out = model(source.unsqueeze(0), torch.tensor([source.numel()]), previous)
        lprobs = model.get_normalized_probs(out, log_probs=True)[0]
    expected = lprobs.gather(-1, best["tokens"].unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(best["positional_scores"], expected, atol=1e-4)


@pytest.mark.parametrize("cls, fairseq_cls", [
    (AbcLanguageModel, TransformerLanguageModel), (MemSizerLanguageModel, TransformerLanguageModel),
    (MemformerLanguageModel, TransformerLanguageModel), (AbcTransformerModel, TransformerModel),
    (MemSizerTransformerModel, TransformerModel),
])
def test_hub_models_lists_no_fairseq_checkpoint(cls, fairseq_cls):
    assert fairseq_cls.hub_models()  # fairseq's own list, which a subclass would inherit
    assert cls.hub_models() == {}



def test_readme_language_model_example_runs(trained, capsys):
    """The README's Python example, on this module's abc_lm checkpoint instead of the quickstart's."""
    with open(os.path.join(REPO, "README.md")) as f:
        example = re.search(r"```python\n(from memattn_fairseq\.models\.abc .*?)```", f.read(), re.S).group(1)
    _, save_dir, bin_dir = trained["abc_lm"]
    example = example.replace("runs/quickstart/checkpoints/abc_mlp", save_dir).replace("runs/quickstart/data-bin",
                                                                                       bin_dir)
    exec(compile(example, "README.md", "exec"), {})
    sample, perplexity = capsys.readouterr().out.strip().splitlines()
    assert sample.startswith("The assert statement ") or sample.startswith("<unk> assert statement ")
    assert float(re.fullmatch(r"tensor\(([\d.]+)\)", perplexity).group(1)) > 1
