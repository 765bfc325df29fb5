"""Converting fairseq softmax checkpoints (trained here by fairseq-train) into every bounded family and role set:
shared tensors equal to the source, the result loads and runs in fairseq's tools and finetunes, bad sources fail
with one line and write nothing, and attention transfer lowers the imitation loss and resumes exactly."""
import os
import subprocess
import sys

import pytest
import torch
from cli_runner import TINY_LM, TINY_MT, TRAIN_COMMON, USER_DIR, lm_data, mt_data, run
from fairseq import checkpoint_utils

from memattn_fairseq.conversion.__main__ import main as convert
from memattn_fairseq.conversion.checkpoint import read_source, setup_task, target_config
from memattn_fairseq.conversion.transfer import Recorder, TransferSettings, imitation_loss, transfer
from memattn_fairseq.conversion.weights import bounded_attention, convert_weights

LM_TARGETS = {"abc_lm": ("--abc-slots", "8"), "memsizer_lm": ("--memsizer-slots", "8"), "linear_lm": ()}
MT_TARGETS = [
    ("abc_transformer", ("--abc-roles", "decoder", "--abc-decoder-slots", "8")),
    ("abc_transformer", ("--abc-roles", "decoder,cross", "--abc-cross-slots", "4")),
    ("abc_transformer", ("--abc-roles", "encoder,decoder,cross", "--abc-encoder-slots", "8")),
    ("memsizer_transformer", ("--memsizer-roles", "decoder,cross")),
    ("memsizer_transformer", ("--memsizer-roles", "encoder,decoder,cross")),
    ("linear_transformer", ("--linear-roles", "decoder,cross")),
]


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    """Binarised LM data and two fairseq transformer_lm checkpoints: post-norm (--arch transformer_lm's default)
    and pre-norm (--decoder-normalize-before, as fairseq's LM presets)."""
    root = tmp_path_factory.mktemp("conversion_lm")
    data = lm_data(str(root), train_lines=120)
    sources = {}
    for layout, extra in (("post", ()), ("pre", ("--decoder-normalize-before",))):
        run("train", data, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", "transformer_lm", *TINY_LM,
            *extra, "--tokens-per-sample", "64", "--max-tokens", "512", "--max-update", "3",
            "--save-dir", root / layout, *TRAIN_COMMON)
        sources[layout] = str(root / layout / "checkpoint_last.pt")
    return data, sources


@pytest.fixture(scope="module")
def mt(tmp_path_factory):
    root = tmp_path_factory.mktemp("conversion_mt")
    data = mt_data(str(root), train_pairs=200, held_out=8)
    run("train", data, "--user-dir", USER_DIR, "--arch", "transformer", *TINY_MT, "--max-tokens", "1000",
        "--max-update", "3", "--save-dir", root / "teacher", *TRAIN_COMMON)
    return data, str(root / "teacher" / "checkpoint_last.pt")


def source_state(path):
    return checkpoint_utils.load_checkpoint_to_cpu(path)["model"]


def assert_shared_tensors_copied(source_path, converted_path):
    """Every tensor of the converted model is the source's, except the bounded modules' own new parameters, and every
    source tensor outside the converted attention modules is in the converted model."""
    source = source_state(source_path)
    converted = checkpoint_utils.load_checkpoint_to_cpu(converted_path)
    initialised = set(converted["conversion"]["initialised"])
    assert converted["conversion"]["copied"] == len(converted["model"]) - len(initialised)
    for key, tensor in converted["model"].items():
        if key not in initialised:
            assert torch.equal(tensor, source[key]), key
    return source, converted


def load(path, data):
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([path], arg_overrides={"data": data})
    return models[0].eval(), task


@pytest.mark.parametrize("layout", ["post", "pre"])
@pytest.mark.parametrize("target", sorted(LM_TARGETS))
def test_language_model_converts_with_every_shared_tensor(lm, target, layout, tmp_path):
    data, sources = lm
    out = str(tmp_path / "converted.pt")
    convert([sources[layout], out, "--to", target, *LM_TARGETS[target]])
    source, converted = assert_shared_tensors_copied(sources[layout], out)
    attention_keys = [k for k in source if ".self_attn." in k]
    copied_attention = [k for k in attention_keys if k in converted["model"] and k not in
                        converted["conversion"]["initialised"]]
    expected = {"abc_lm": 8, "linear_lm": 8, "memsizer_lm": 2}[target]  # per layer: q,k,v,out or v (weight, bias)
    assert len(copied_attention) == expected * 2  # two layers
    model, task = load(out, data)
    assert model.decoder.layers[0].normalize_before == (layout == "pre")
    tokens = torch.randint(4, len(task.source_dictionary), (2, 11))
    logits = model(tokens)[0]
    assert logits.shape == (2, 11, len(task.source_dictionary)) and torch.isfinite(logits).all()


@pytest.mark.parametrize("target,options", MT_TARGETS, ids=lambda v: v if isinstance(v, str) else ",".join(v[1:2]))
def test_translation_model_converts_the_chosen_roles(mt, target, options, tmp_path):
    data, teacher = mt
    out = str(tmp_path / "converted.pt")
    convert([teacher, out, "--to", target, *options])
    source, converted = assert_shared_tensors_copied(teacher, out)
    roles = options[1].split(",")
    prefixes = {"encoder": "encoder.layers.0.self_attn.", "decoder": "decoder.layers.0.self_attn.",
                "cross": "decoder.layers.0.encoder_attn."}
    for role, prefix in prefixes.items():
        new = [k for k in converted["conversion"]["initialised"] if k.startswith(prefix)]
        assert bool(new) == (role in roles and not target.startswith("linear")), (role, new)
        if role not in roles:  # softmax kept: all of it copied
            assert all(torch.equal(converted["model"][k], source[k]) for k in source if k.startswith(prefix))
    model, task = load(out, data)
    assert sorted({m.role for m in bounded_attention(model).values()}) == sorted(roles)
    src = torch.randint(4, len(task.source_dictionary), (2, 7))
    logits = model(src, torch.tensor([7, 7]), torch.randint(4, len(task.target_dictionary), (2, 5)))[0]
    assert torch.isfinite(logits).all()


def test_converted_language_model_evaluates_and_finetunes_in_fairseq(lm, tmp_path):
    data, sources = lm
    out = str(tmp_path / "abc.pt")
    convert([sources["post"], out, "--to", "abc_lm", "--abc-slots", "8"])
    log = run("eval-lm", data, "--user-dir", USER_DIR, "--path", out, "--tokens-per-sample", "64", "--max-tokens",
              "512", "--cpu", "--gen-subset", "valid")
    assert "Perplexity:" in log
    log = run("train", data, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", "abc_lm", *TINY_LM,
              "--abc-slots", "8", "--decoder-post-norm", "--tokens-per-sample", "64", "--max-tokens", "512",
              "--max-update", "2", "--save-dir", tmp_path / "finetune", "--finetune-from-model", out, *TRAIN_COMMON)
    assert f"Loaded checkpoint {out} (epoch 1 @ 0 updates)" in log and "num_updates 2" in log


def test_converted_translation_model_generates_every_sentence(mt, tmp_path):
    data, teacher = mt
    out = str(tmp_path / "memsizer.pt")
    convert([teacher, out, "--to", "memsizer_transformer"])
    log = run("generate", data, "--user-dir", USER_DIR, "--path", out, "--beam", "2", "--max-tokens", "1000",
              "--required-batch-size-multiple", "1", "--cpu", "--gen-subset", "test")
    assert log.count("\nH-") == 8


def conversion_cli(*args):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "memattn_fairseq.conversion", *map(str, args)], capture_output=True,
                          text=True, env=env)


def assert_fails_with_one_line(proc, out, *needles):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert all(needle in last for needle in needles), last
    assert not os.path.exists(out) and not os.path.exists(str(out) + ".transfer")


def test_bad_sources_fail_with_one_line_and_write_nothing(lm, mt, tmp_path):
    data, sources = lm
    out = tmp_path / "out.pt"
    assert_fails_with_one_line(conversion_cli(sources["post"], out, "--to", "abc_transformer"), out,
                               "--to abc_transformer converts a fairseq transformer checkpoint", "transformer_lm")
    assert_fails_with_one_line(conversion_cli(mt[1], out, "--to", "memsizer_lm"), out, "transformer_lm", "transformer")
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    assert_fails_with_one_line(conversion_cli(text, out, "--to", "abc_lm"), out, str(text), "not a torch checkpoint")
    state = torch.load(sources["post"], weights_only=False)
    state["model"]["decoder.layers.0.adapter.weight"] = torch.zeros(3)
    extra = tmp_path / "extra.pt"
    torch.save(state, extra)
    assert_fails_with_one_line(conversion_cli(extra, out, "--to", "abc_lm"), out, "no place for",
                               "decoder.layers.0.adapter.weight")
    plugin = tmp_path / "abc.pt"
    convert([sources["post"], str(plugin), "--to", "abc_lm", "--abc-slots", "8"])
    assert_fails_with_one_line(conversion_cli(plugin, out, "--to", "memsizer_lm"), out, "abc_lm")
    assert_fails_with_one_line(conversion_cli(sources["post"], out, "--to", "abc_lm", "--abc-slots", "0"), out,
                               "--abc-slots must be >= 1")


def transfer_setup(lm, target="abc_lm", options=None):
    """(task, teacher, student) for the post-norm LM source, the student freshly converted."""
    data, sources = lm
    source = read_source(sources["post"], target)
    task = setup_task(source, data)
    torch.manual_seed(1)
    student = task.build_model(target_config(source, target, options or {"abc_slots": 8}))
    student.load_state_dict(convert_weights(source.state["model"], student).state)
    teacher = task.build_model(source.model_config)
    teacher.load_state_dict(source.state["model"])
    return task, teacher.eval(), student.eval()


def fixed_batch_loss(task, teacher, student):
    task.load_dataset("valid")
    sample = task.dataset("valid").collater([task.dataset("valid")[i] for i in range(4)])
    recorder = Recorder(teacher, bounded_attention(student))
    with torch.no_grad():
        teacher(**sample["net_input"])
        loss = imitation_loss(bounded_attention(student), recorder.calls).item()
    recorder.close()
    return loss


def test_attention_transfer_lowers_the_imitation_loss(lm, tmp_path):
    # MemSizer: its slots are new, so it starts far from the softmax outputs (ABC starts from the copied q, k, v)
    task, teacher, student = transfer_setup(lm, "memsizer_lm", {"memsizer_slots": 8})
    before = fixed_batch_loss(task, teacher, student)
    record = transfer(task, teacher, student, TransferSettings(updates=30, lr=1e-2, max_tokens=512),
                      str(tmp_path / "state"))
    assert record["transfer_updates"] == 30
    assert fixed_batch_loss(task, teacher, student) < 0.8 * before


def test_attention_transfer_resumes_exactly(lm, tmp_path):
    settings = dict(lr=1e-2, max_tokens=512, save_interval=2)
    task, teacher, straight = transfer_setup(lm)
    transfer(task, teacher, straight, TransferSettings(updates=6, **settings), str(tmp_path / "straight"))
    task, teacher, resumed = transfer_setup(lm)
    transfer(task, teacher, resumed, TransferSettings(updates=3, **settings), str(tmp_path / "resumed"))
    task, teacher, resumed = transfer_setup(lm)  # a new process: the state file holds the progress
    record = transfer(task, teacher, resumed, TransferSettings(updates=6, **settings), str(tmp_path / "resumed"))
    assert record["transfer_updates"] == 6
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters()):
        assert torch.equal(a, b), name


def test_the_command_transfers_and_removes_its_state(lm, tmp_path):
    data, sources = lm
    out = tmp_path / "memsizer.pt"
    proc = conversion_cli(sources["pre"], out, "--to", "memsizer_lm", "--memsizer-slots", "8", "--data", data,
                          "--transfer-updates", "4", "--transfer-max-tokens", "512", "--transfer-save-interval", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "imitation loss" in proc.stdout and "attention transfer" in proc.stderr  # the progress bar
    record = torch.load(out, weights_only=False)["conversion"]
    assert record["transfer_updates"] == 4 and not os.path.exists(str(out) + ".transfer")
