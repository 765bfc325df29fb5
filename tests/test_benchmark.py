"""The benchmark harness runs end to end on a tiny configuration and writes its CSV, markdown and plots.
(Timings are not asserted: they belong to the benchmark's report, not to tests.)"""
import csv
import os

import pytest
import torch

from memattn_fairseq.attention.abc import MlpControl
from memattn_fairseq.benchmark.__main__ import main
from memattn_fairseq.benchmark.attention_core import FORMS, abc_two_pass
from memattn_fairseq.benchmark.step_core import FAMILIES
from memattn_fairseq.benchmark.measure import peak_bytes


def test_quick_benchmark_writes_every_output(tmp_path):
    main(["--quick", "--out-dir", str(tmp_path), "--sections", "decode_lm,decode_mt,train_lm", "--threads", "1"])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    sections = {r["section"] for r in rows}
    assert sections == {"decode_lm", "decode_mt", "train_lm"}
    models = {r["model"] for r in rows if r["section"] == "decode_lm"}
    assert {"transformer", "abc_mlp", "abc_linformer", "abc_window", "memsizer", "memformer"} <= models
    assert {r["model"] for r in rows if r["section"] == "train_lm"} == models
    # 2 batch sizes x 2 prefixes per LM model; every measurement positive
    assert sum(r["model"] == "abc_mlp" and r["section"] == "decode_lm" for r in rows) == 4
    assert all(float(r["ms_per_token"]) > 0 for r in rows if r["section"].startswith("decode"))
    # bounded state: the same bytes at both prefixes; the transformer's cache grows with the prefix
    state = {(r["model"], r["length"]): float(r["state_bytes"]) for r in rows if r["section"] == "decode_lm" and r["batch"] == "1"}
    for bounded in ("abc_mlp", "memsizer", "memformer"):
        assert state[(bounded, "16")] == state[(bounded, "64")] > 0
    assert state[("transformer", "64")] > state[("transformer", "16")]
    text = open(tmp_path / "results.md").read()
    assert "decode_lm" in text and "(ratio to transformer" in text
    assert len([f for f in os.listdir(tmp_path) if f.endswith(".png")]) >= 6


def test_cpu_peak_counts_live_tensors_only():
    """Two 4 MB tensors alive together, then freed, then a 2 MB one: the peak is 8 MB, not the 10 MB allocated."""
    def allocate():
        first, second = torch.ones(1_000_000), torch.ones(1_000_000)
        del first, second
        torch.ones(500_000)

    assert 8_000_000 <= peak_bytes(allocate, torch.device("cpu")) < 8_100_000


def test_attention_section_times_every_form_with_flops_and_targets(tmp_path):
    main(["--quick", "--out-dir", str(tmp_path), "--sections", "attention", "--threads", "1"])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {(r["model"], r["length"]) for r in rows} == {(m, n) for m in FORMS for n in ("32", "64")}
    assert all(float(r["ms_per_call"]) > 0 and float(r["gflops"]) > 0 and float(r["peak_bytes"]) > 0 for r in rows)
    text = open(tmp_path / "results.md").read()
    assert "(ratio to abc_mlp_two_pass" in text and "abc_mlp attention time / its two-pass peer form" in text


def test_two_pass_peer_form_computes_abcs_math():
    """The benchmark's peer form is the same function as the plugin's ABC_MLP causal form (outputs and gradients)."""
    torch.manual_seed(0)
    heads, length, dim, slots = 2, 77, 8, 5
    q, k, v = (torch.randn(1, heads, length, dim, dtype=torch.float64, requires_grad=True) for _ in range(3))
    x = torch.randn(1, length, 12, dtype=torch.float64, requires_grad=True)
    control = MlpControl(12, heads, slots).double()
    ours = control.causal(q, k, v, x, None, None, 16)[0]
    peer = abc_two_pass(q, k, v, control.logits(x, None))
    assert (ours - peer).abs().max() < 1e-10
    for a, b in zip(torch.autograd.grad(ours.pow(2).sum(), (q, k, v, x)),
                    torch.autograd.grad(peer.pow(2).sum(), (q, k, v, x))):
        assert (a - b).abs().max() < 1e-9


def test_step_section_times_each_core_beside_its_minimal_step(tmp_path):
    main(["--quick", "--out-dir", str(tmp_path), "--sections", "step", "--threads", "1"])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {(r["model"], r["batch"]) for r in rows} == {(m, b) for m in FAMILIES for b in ("1", "2")}
    assert all(float(r["us_per_step"]) > 0 and float(r["minimal_us_per_step"]) > 0 for r in rows)
    text = open(tmp_path / "results.md").read()
    assert "µs per minimal in-place step" in text and "memsizer decoding step / a minimal in-place step" in text


@pytest.mark.parametrize("family", sorted(FAMILIES))
@torch.no_grad()
def test_minimal_steps_compute_the_plugins_step(family):
    """The minimal step the benchmark times is the same math as the plugin's step: equal outputs, step after step
    (each advances its own copy of the state)."""
    torch.manual_seed(0)
    plugin, minimal_step = FAMILIES[family](3, 2, 8, 5, torch.device("cpu"))
    for _ in range(4):
        ours, theirs = plugin(), minimal_step()
        assert ours.shape == theirs.shape and (ours - theirs).abs().max() < 1e-5


def test_train_lm_measures_the_bounded_models_with_recompute_off_beside_on(tmp_path):
    main(["--quick", "--out-dir", str(tmp_path), "--sections", "train_lm", "--threads", "1", "--models",
          "transformer,abc_mlp", "--attention-recompute", "both"])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {(r["model"], r["length"]) for r in rows} == {(m, n) for m in ("transformer", "abc_mlp",
                                                                          "abc_mlp_norecompute")
                                                         for n in ("32", "64")}
    assert all(float(r["peak_bytes"]) > 0 for r in rows)


def test_serve_section_fills_the_state_budget_with_as_many_sequences_as_fit(tmp_path):
    main(["--quick", "--out-dir", str(tmp_path), "--sections", "serve", "--threads", "1", "--serve-budget-gb",
          "0.0005"])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    served = {r["model"] for r in rows}
    assert served >= {"transformer", "abc_mlp", "memsizer"} and "memformer" not in served
    for r in rows:
        sequences, per_sequence = int(r["sequences"]), float(r["state_bytes"])
        assert sequences * per_sequence <= 500_000 < (sequences + 1) * per_sequence
        assert float(r["tokens_per_s"]) > 0
    batch = {r["model"]: int(r["sequences"]) for r in rows}
    assert batch["abc_mlp"] > batch["transformer"] and batch["memsizer"] > batch["transformer"]
    text = open(tmp_path / "results.md").read()
    assert "decoder-state budget 0.0005 GB" in text and "abc_mlp serving tokens/s / transformer" in text
