"""--task memformer_lm in-process: stream layout, MRBP == full BPTT (fp32, dropout on, loss scaling, DDP with one
sync per update), memory carried across batches and reset at split/epoch starts, stateful validation equal to one
long pass, and one-line errors for settings that do not fit the data or the model."""
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from builders import build, dictionary
from fairseq.criterions.cross_entropy import CrossEntropyCriterion
from fairseq.data import indexed_dataset
from fairseq.distributed.module_proxy_wrapper import ModuleProxyWrapper
from fairseq.optim.fp16_optimizer import FP16Optimizer
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.modules.memformer_state import RecurrentState
from memattn_fairseq.tasks.memformer_lm_task import MemformerLMConfig, MemformerLMTask, stream_registry
from memattn_fairseq.tasks.memformer_streams import StreamPosition, StreamRegistry
from memattn_fairseq.tasks.memformer_stream_data import block_sample
from memattn_fairseq.training.memformer_mrbp import find_memformer, recurrent_train_step

VOCAB, L, SLOTS, WIDTH = 40, 4, 6, 32
LINES = [[4 + (7 * i + 3 * j) % (VOCAB - 4) for j in range(5 + i % 7)] for i in range(60)]  # ~540 tokens + eos


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """dict.txt and binarised train/valid/test splits (the valid split is shorter)."""
    path = tmp_path_factory.mktemp("memformer_data")
    d = dictionary(VOCAB)
    d.save(str(path / "dict.txt"))
    for split, lines in (("train", LINES), ("valid", LINES[:20]), ("test", LINES[20:40])):
        builder = indexed_dataset.make_builder(str(path / f"{split}.bin"), impl="mmap", vocab_size=len(d))
        for line in lines:
            builder.add_item(torch.IntTensor(line + [d.eos()]))
        builder.finalize(str(path / f"{split}.idx"))
    return str(path)


def stream(split_lines):
    return torch.tensor([t for line in split_lines for t in line + [2]])


def make_task(data_dir, tokens_per_sample=3 * L, batch_size=2, **overrides):
    cfg = MemformerLMConfig(data=data_dir, tokens_per_sample=tokens_per_sample, batch_size=batch_size,
                            batch_size_valid=overrides.pop("batch_size_valid", None), max_tokens=None,
                            train_subset="train", **overrides)
    return MemformerLMTask.setup_task(cfg)


def model_for(task, dropout=0.0, **overrides):
    options = dict(encoder_layers=1, memformer_segment_length=L, memformer_slots=SLOTS, dropout=dropout,
                   attention_dropout=dropout, activation_dropout=dropout)
    model = build("memformer_lm", vocab=VOCAB, **{**options, **overrides})
    if task is not None:
        StreamRegistry().attach(model)  # as the task's build_model does
    return model.train()


def criterion_for(task):
    return CrossEntropyCriterion(task if task is not None else SimpleNamespace(target_dictionary=dictionary(VOCAB)),
                                 sentence_avg=False)


def batches(task, split):
    if split not in task.datasets:
        task.load_dataset(split)
    return list(task.get_batch_iterator(task.dataset(split)).next_epoch_itr(shuffle=False))


def grads(model):
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_grads(a, b, tol=1e-5):
    assert a.keys() == b.keys()
    scale = max(g.abs().max().item() for g in a.values())
    err = max((a[k] - b[k]).abs().max().item() for k in a)
    assert err <= tol * max(1.0, scale), f"gradients differ by {err} (largest gradient {scale})"


def one_step(model, sample, mode, state=None, optimizer=None, seed=7):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # fairseq re-seeds every update; both modes draw the same segment seeds
    loss, size, log, final = recurrent_train_step(model, criterion_for(None), sample, optimizer, mode=mode, state=state)
    return loss, size, grads(model), final


# -- data layout -------------------------------------------------------------------------------------------------
def test_rows_continue_their_streams_batch_after_batch(data_dir):
    task = make_task(data_dir, tokens_per_sample=2 * L, batch_size=3)
    train = batches(task, "train")
    tokens = stream(LINES)
    per_row = (tokens.numel() // (2 * L)) // 3
    assert len(train) == per_row
    for i, sample in enumerate(train):
        src, tgt = sample["net_input"]["src_tokens"], sample["target"]
        assert sample["net_input"]["stream"] == StreamPosition("train", i)
        assert torch.equal(src[:, 1:], tgt[:, :-1])  # inputs are the targets shifted by one
        assert torch.equal(src[:, 0], torch.full((3,), 2) if i == 0 else train[i - 1]["target"][:, -1])
        for row in range(3):  # row r holds blocks r*per_row .. (r+1)*per_row-1 of the split
            start = (row * per_row + i) * 2 * L
            assert torch.equal(tgt[row], tokens[start: start + 2 * L])
    again = batches(task, "train")  # every epoch starts over at block 0
    assert again[0]["net_input"]["stream"].block == 0 and torch.equal(again[0]["target"], train[0]["target"])


def test_one_evaluation_stream_covers_the_whole_split(data_dir):
    task = make_task(data_dir, tokens_per_sample=2 * L, batch_size=None)  # as fairseq-eval-lm without --batch-size
    valid = batches(task, "valid")
    assert all(s["target"].size(0) == 1 for s in valid)
    assert torch.equal(torch.cat([s["target"][0] for s in valid]), stream(LINES[:20]))  # last block short
    assert valid[-1]["target"].size(1) < 2 * L


# -- MRBP ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("horizon", [1, 3, 6])
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_mrbp_gradients_equal_full_bptt(horizon, dropout):
    model = model_for(None, dropout=dropout)
    sample = block_sample(torch.randint(4, VOCAB, (3, horizon * L)), dictionary(VOCAB))
    loss_full, size_full, g_full, final_full = one_step(model, sample, "full")
    loss_mrbp, size_mrbp, g_mrbp, final_mrbp = one_step(model, sample, "mrbp")
    assert size_full == size_mrbp == 3 * horizon * L
    assert abs(loss_full.item() - loss_mrbp.item()) < 1e-4
    assert_same_grads(g_full, g_mrbp)
    assert (final_full.memory - final_mrbp.memory).abs().max() < 1e-6
    assert "decoder.memory_norm.bias" in g_mrbp and len(g_mrbp) == len(list(model.parameters()))


def test_mrbp_equals_full_bptt_from_a_carried_state_and_ragged_rows():
    model = model_for(None, dropout=0.1)
    d = dictionary(VOCAB)
    state = RecurrentState(torch.nn.functional.normalize(torch.randn(2, SLOTS, WIDTH), dim=-1),
                           torch.randint(4, VOCAB, (2, L)))
    sample = block_sample(torch.randint(4, VOCAB, (2, 4 * L)), d)
    for key in ("src_tokens",):
        sample["net_input"][key][1, L + 1:] = d.pad()  # row 1's stream ends inside segment 2
    sample["target"][1, L + 1:] = d.pad()
    _, size_full, g_full, _ = one_step(model, sample, "full", state=state)
    _, size_mrbp, g_mrbp, _ = one_step(model, sample, "mrbp", state=state)
    assert size_full == size_mrbp == 4 * L + L + 1
    assert all(torch.isfinite(g).all() for g in g_mrbp.values())
    assert_same_grads(g_full, g_mrbp)


def fp16_optimizer(params, scale, bf16=False):
    common = SimpleNamespace(fp16_scale_window=128, fp16_init_scale=scale, fp16_scale_tolerance=0.0,
                             threshold_loss_scale=None, min_loss_scale=1e-4, bf16=bf16)
    return FP16Optimizer(SimpleNamespace(optimizer=SimpleNamespace(), common=common), params, None, None)


def test_mrbp_under_fp16_loss_scaling_unscales_the_carried_gradient():
    model = model_for(None, dropout=0.1)
    sample = block_sample(torch.randint(4, VOCAB, (2, 4 * L)), dictionary(VOCAB))
    _, _, reference, _ = one_step(model, sample, "full")
    optimizer = fp16_optimizer(list(model.parameters()), scale=1024.0)
    _, _, scaled, _ = one_step(model, sample, "mrbp", optimizer=optimizer)
    assert optimizer._needs_sync  # fairseq's FP16Optimizer saw the backward passes
    assert_same_grads({k: g * 1024.0 for k, g in reference.items()}, scaled)


def flat(gradients):
    return torch.cat([g.double().flatten() for g in gradients.values()])


def test_half_precision_model_mrbp_matches_fp32():
    """--fp16 (a half model, loss scale 1024) on the CPU: finite, and the unscaled gradients point like fp32's."""
    model = model_for(None)
    sample = block_sample(torch.randint(4, VOCAB, (2, 4 * L)), dictionary(VOCAB))
    _, _, reference, _ = one_step(model, sample, "full")
    half = model.half()
    _, _, scaled, _ = one_step(half, sample, "mrbp", optimizer=fp16_optimizer(list(half.parameters()), scale=1024.0))
    assert torch.isfinite(flat(scaled)).all()
    assert torch.cosine_similarity(flat(reference), flat(scaled) / 1024.0, dim=0) > 0.999


def test_bf16_mrbp_matches_full_bptt():
    model = model_for(None).to(torch.bfloat16)
    sample = block_sample(torch.randint(4, VOCAB, (2, 4 * L)), dictionary(VOCAB))
    optimizer = fp16_optimizer(list(model.parameters()), scale=1.0, bf16=True)
    _, _, full, _ = one_step(model, sample, "full", optimizer=optimizer)
    _, _, mrbp, _ = one_step(model, sample, "mrbp", optimizer=optimizer)
    assert torch.isfinite(flat(mrbp)).all() and torch.cosine_similarity(flat(full), flat(mrbp), dim=0) > 0.999


def test_dummy_batches_leave_no_gradient_and_do_not_advance_the_streams(data_dir):
    task = make_task(data_dir)
    model = model_for(task)
    sample = batches(task, "train")[0]
    model.zero_grad(set_to_none=True)
    task.train_step(sample, model, criterion_for(task), None, update_num=0, ignore_grad=True)
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in model.parameters())
    assert stream_registry(model).state_for(StreamPosition("train", 1), 2) is None


# -- state across batches -------------------------------------------------------------------------------------------
def test_train_steps_carry_memory_across_batches_and_accumulate(data_dir):
    task = make_task(data_dir)
    model, criterion = model_for(task), criterion_for(task)
    train = batches(task, "train")
    model.zero_grad(set_to_none=True)
    for i in range(3):  # --update-freq 3: gradients accumulate over consecutive batches
        torch.manual_seed(i)
        task.train_step(train[i], model, criterion, None, update_num=0)
    accumulated = grads(model)
    state, expected = None, {}
    for i in range(3):
        torch.manual_seed(i)
        _, _, g, state = one_step(model, train[i], "mrbp", state=state or RecurrentState.fresh(2), seed=i)
        expected = {k: expected.get(k, 0) + v for k, v in g.items()}
    assert_same_grads(expected, accumulated)
    fresh = stream_registry(model).state_for(StreamPosition("train", 0), 2)
    assert fresh is None  # block 0 (a new epoch) starts the streams afresh


def test_validation_is_stateful_and_equals_one_long_pass(data_dir):
    task = make_task(data_dir, tokens_per_sample=2 * L, batch_size_valid=1)
    model, criterion = model_for(task, dropout=0.3), criterion_for(task)
    model.eval()
    total = sum(task.valid_step(sample, model, criterion)[0].item() for sample in batches(task, "valid"))
    whole = stream(LINES[:20])
    one_pass = block_sample(whole[None], task.dictionary)
    with torch.no_grad():
        expected = criterion(model, one_pass)[0].item()
    assert abs(total - expected) < 1e-3 * abs(expected)
    again = sum(task.valid_step(sample, model, criterion)[0].item() for sample in batches(task, "valid"))
    assert abs(again - total) < 1e-6 * abs(total)  # the next validation starts over, not from the end


def test_validation_does_not_disturb_the_training_streams(data_dir):
    task = make_task(data_dir)
    model, criterion = model_for(task), criterion_for(task)
    train = batches(task, "train")
    task.train_step(train[0], model, criterion, None, update_num=0)
    carried = stream_registry(model).state_for(StreamPosition("train", 1), 2).memory.clone()
    task.begin_valid_epoch(1, model)
    for sample in batches(task, "valid"):
        task.valid_step(sample, model, criterion)
    model.train()
    after = stream_registry(model).state_for(StreamPosition("train", 1), 2)
    assert after is not None and torch.equal(after.memory, carried)


# -- data parallel ----------------------------------------------------------------------------------------------------
def _ddp_worker(rank, world, init_file, result_file):
    torch.manual_seed(0)
    model = model_for(None, dropout=0.1)
    reference = model_for(None, dropout=0.1)
    reference.load_state_dict(model.state_dict())
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    calls = []

    def counting_allreduce(state, bucket):
        calls.append(1)
        return default_hooks.allreduce_hook(None, bucket)

    ddp.register_comm_hook(None, counting_allreduce)
    wrapped = ModuleProxyWrapper(ddp)  # as fairseq wraps c10d DDP
    generator = torch.Generator().manual_seed(3)
    sample = block_sample(torch.randint(4, VOCAB, (4, 4 * L), generator=generator), dictionary(VOCAB))
    rows = slice(2 * rank, 2 * rank + 2)
    local = block_sample(sample["target"][rows], dictionary(VOCAB))

    torch.manual_seed(11)
    calls.clear()
    recurrent_train_step(wrapped, criterion_for(None), local, mode="mrbp")
    mrbp_calls = len(calls)
    synced = grads(model)
    model.zero_grad(set_to_none=True)
    calls.clear()  # the buckets of one plain backward: what one synchronisation costs
    recurrent_train_step(wrapped, criterion_for(None), local, mode="full")
    plain_calls = len(calls)
    per_rank = []
    for r in range(world):  # the average of the ranks' gradients, computed without DDP
        torch.manual_seed(11)
        reference.zero_grad(set_to_none=True)
        rank_rows = block_sample(sample["target"][2 * r: 2 * r + 2], dictionary(VOCAB))
        recurrent_train_step(reference, criterion_for(None), rank_rows, mode="mrbp")
        per_rank.append(grads(reference))
    expected = {k: sum(g[k] for g in per_rank) / world for k in per_rank[0]}
    assert_same_grads(expected, synced)
    assert plain_calls >= 1 and mrbp_calls == plain_calls, (mrbp_calls, plain_calls)
    if rank == 0:
        with open(result_file, "w") as f:
            f.write(f"{mrbp_calls} {plain_calls}")
    dist.destroy_process_group()


def test_ddp_synchronises_once_per_update_and_averages_mrbp_gradients(tmp_path):
    init_file, result_file = str(tmp_path / "init"), str(tmp_path / "result")
    mp.start_processes(_ddp_worker, args=(2, init_file, result_file), nprocs=2, join=True, start_method="fork")
    mrbp_calls, plain_calls = map(int, open(result_file).read().split())
    assert mrbp_calls == plain_calls  # 4 segments replayed, one all-reduce of the buckets


# -- errors ----------------------------------------------------------------------------------------------------------
def test_tokens_per_sample_must_hold_whole_segments(data_dir):
    task = make_task(data_dir, tokens_per_sample=3 * L + 1)
    message = r"--tokens-per-sample=13 is not a multiple of .*--memformer-segment-length=4"
    with pytest.raises(ConfigError, match=message):
        task.build_model(memformer_args())


def memformer_args(arch="memformer_lm", **overrides):
    from omegaconf import OmegaConf

    values = dict(_name=arch, encoder_layers=1, decoder_layers=1, decoder_embed_dim=16, decoder_ffn_embed_dim=32,
                  decoder_attention_heads=2, memformer_segment_length=L, memformer_slots=2)
    values.update(overrides)
    return OmegaConf.create(values)


def test_the_task_builds_only_memformer_models(data_dir, monkeypatch):
    task = make_task(data_dir)
    assert isinstance(find_memformer(task.build_model(memformer_args())), torch.nn.Module)
    from fairseq.tasks import FairseqTask

    monkeypatch.setattr(FairseqTask, "build_model", lambda self, cfg, from_checkpoint=False: build("transformer_lm"))
    with pytest.raises(ConfigError, match="--task memformer_lm trains memformer_lm models only.*transformer_lm"):
        task.build_model(SimpleNamespace(arch="transformer_lm"))


@pytest.mark.parametrize(
    "settings, split, message",
    [
        (dict(tokens_per_sample=64 * L, batch_size=4), "train",
         r"split 'train' holds \d+ tokens: too few for 4 streams of --tokens-per-sample=256 \(lower --batch-size"),
        (dict(tokens_per_sample=64 * L, batch_size=1, batch_size_valid=2), "valid",
         r"too few for 2 streams .*lower --batch-size-valid"),
        (dict(batch_size=None), "train", "needs --batch-size"),
    ],
)
def test_settings_that_do_not_fit_the_data(data_dir, settings, split, message):
    task = make_task(data_dir, **settings)
    with pytest.raises(ConfigError, match=message):
        task.load_dataset(split)


def test_context_window_is_refused(data_dir):
    task = make_task(data_dir)
    task.load_dataset("test")
    with pytest.raises(ConfigError, match="--context-window"):
        task.eval_lm_dataloader(task.dataset("test"), context_window=8)
