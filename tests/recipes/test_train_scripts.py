"""scripts/train_wikitext103.sh and scripts/train_wmt_en_de.sh: --smoke runs of the experiment configs end to end
(one process, and two CPU processes with --nproc), --help, and one-line errors for bad input."""
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from cli_runner import REPO, lm_data, mt_data

from memattn_fairseq.recipes import experiments

SCRIPTS = {task: os.path.join(REPO, spec.script) for task, spec in experiments.TASKS.items()}


def script(task, *args, cwd=REPO):
    """Run a training script; returns (exit status, stdout + stderr)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(["bash", SCRIPTS[task], *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def wmt_layout(out_dir):
    """The helper's synthetic translation pairs, renamed into the en-de layout of prepare_wmt_en_de.sh."""
    data = mt_data(out_dir, train_pairs=300)
    for name in os.listdir(data):
        renamed = name.replace("src-tgt", "en-de").replace(".src.", ".en.").replace(".tgt.", ".de.")
        os.rename(os.path.join(data, name), os.path.join(data, renamed))
    return data


def saved_cfg(path):
    return torch.load(path, weights_only=False)["cfg"]


def test_smoke_runs_train_the_experiment_configs(tmp_path):
    """One LM experiment in one process, one MT experiment in two CPU processes: the full configs with only their
    sizes and step counts overridden; the MT run leaves two epoch checkpoints for averaging."""
    lm_bin, mt_bin = lm_data(str(tmp_path / "lm")), wmt_layout(str(tmp_path / "mt"))
    lm_save, mt_save = tmp_path / "ckpt" / "abc_linformer", tmp_path / "ckpt" / "abc_base"
    os.makedirs(tmp_path / "elsewhere")
    with ThreadPoolExecutor(2) as pool:  # relative paths: taken from the calling directory
        lm_run = pool.submit(script, "wikitext103", "abc_linformer", "--smoke", "--data", os.path.relpath(lm_bin,
                             tmp_path / "elsewhere"), "--save-dir", "../ckpt/abc_linformer", cwd=tmp_path / "elsewhere")
        mt_run = pool.submit(script, "wmt_en_de", "abc_base", "--smoke", "--nproc", "2", "--data", mt_bin,
                             "--save-dir", mt_save, "--", "common.log_interval=1")
        (lm_status, lm_log), (mt_status, mt_log) = lm_run.result(), mt_run.result()
    assert lm_status == 0, lm_log[-3000:]
    assert mt_status == 0, mt_log[-3000:]

    assert "num_updates 8" in lm_log
    lm = saved_cfg(lm_save / "checkpoint_last.pt")
    assert (lm["optimizer"]["_name"], lm["lr_scheduler"]["_name"], lm["criterion"]["_name"]) == \
           ("nag", "cosine", "adaptive_loss")  # the experiment's recipe ...
    assert lm["model"]["abc_control"] == "linformer" and lm["model"]["abc_linformer_max_len"] == 64
    assert lm["model"]["decoder_layers"] == 2 and lm["task"]["tokens_per_sample"] == 64  # ... at smoke size
    assert lm["common"]["cpu"] and not lm["common"]["fp16"]

    assert "distributed init (rank 1)" in mt_log and "num_updates" in mt_log
    for name in ("checkpoint1.pt", "checkpoint2.pt", "checkpoint_best.pt", "checkpoint_last.pt"):
        assert (mt_save / name).exists(), name
    mt = saved_cfg(mt_save / "checkpoint_last.pt")
    assert mt["distributed_training"]["distributed_world_size"] == 2
    assert mt["optimization"]["lr"] == [0.0007] and mt["criterion"]["label_smoothing"] == 0.1
    assert mt["task"]["source_lang"] == "en" and mt["checkpoint"]["keep_last_epochs"] == 10

    # started again (one more epoch allowed), both ranks resume from checkpoint_last.pt
    status, log = script("wmt_en_de", "abc_base", "--smoke", "--nproc", "2", "--data", mt_bin, "--save-dir", mt_save,
                         "--", "optimization.max_epoch=3")
    assert status == 0, log[-3000:]
    assert "Loaded checkpoint" in log and "(epoch 3 @" in log and (mt_save / "checkpoint3.pt").exists()


@pytest.mark.parametrize("task", list(experiments.TASKS))
def test_help_lists_the_models(task):
    status, out = script(task, "--help")
    assert status == 0 and out.startswith("Train one ")
    assert all(model in out for model in experiments.TASKS[task].experiments)


@pytest.mark.parametrize("task, args, message", [
    ("wikitext103", ["abc"], "unknown model 'abc'; choose one of: transformer, abc_mlp, abc_linformer, abc_window, "
                             "memsizer, memformer"),
    ("wmt_en_de", ["transformer"], "unknown model 'transformer'; choose one of: transformer_base, transformer_big"),
    ("wmt_en_de", [], "missing MODEL; choose one of: transformer_base"),
    ("wikitext103", ["memsizer", "--nproc", "0"], "--nproc must be an integer >= 1, got '0'"),
    ("wikitext103", ["memsizer", "--gpus", "2"], "unrecognized arguments: --gpus 2"),
    ("wmt_en_de", ["abc_big", "--data", "/nonexistent"], "--data /nonexistent: no binarised data there (make it "
                                                         "with: bash scripts/prepare_wmt_en_de.sh)"),
])
def test_bad_input_gives_one_line_errors(task, args, message):
    status, out = script(task, *args)
    lines = out.strip().splitlines()
    assert status == 2 and len(lines) == 1, out
    assert lines[0].startswith(f"{os.path.basename(SCRIPTS[task])}: error: {message}")


def test_smoke_defaults_to_the_smoke_data_and_checkpoint_paths():
    try:
        command = experiments.train_command("wikitext103", "prog", ["memformer", "--smoke"])
    except experiments.UsageError as error:  # no smoke data prepared in this checkout
        assert f"--data {REPO}/runs/smoke/data-bin/wikitext-103: no binarised data there" in str(error)
        assert "bash scripts/prepare_wikitext103.sh --smoke" in str(error)
    else:
        assert f"task.data='{REPO}/runs/smoke/data-bin/wikitext-103'" in command
        assert f"checkpoint.save_dir='{REPO}/runs/smoke/checkpoints/wikitext103/memformer'" in command
