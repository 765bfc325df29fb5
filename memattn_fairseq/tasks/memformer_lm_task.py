"""``--task memformer_lm``: language modelling over contiguous streams, with Memformer's MRBP train step.

Data (tasks/memformer_stream_data.py): the training split becomes ``--batch-size`` parallel streams (or
``--max-tokens`` / ``--tokens-per-sample``), the others ``--batch-size-valid`` (defaulting to --batch-size), or a
single stream when neither is given; batch i+1 continues batch i row for row, in order, every epoch.
``--tokens-per-sample`` T is each row's block per batch (default 4 L); the model cuts it into T / L segments of
its ``--memformer-segment-length`` L, which is the MRBP horizon (gradients flow through one block).

State: the task carries each split's streams between batches (memory and the previous segment) in a
``StreamRegistry`` it attaches to the model, reset where a split's iteration starts (block 0: every epoch, every
validation, every subset). Validation, fairseq-validate and fairseq-eval-lm therefore report the stateful perplexity
of the whole stream. On resume from a mid-epoch checkpoint the training streams continue from the memory saved with
it (see tasks/memformer_streams.py).

Training: ``--memformer-backprop mrbp`` (default) or ``full`` (keeps every segment's graph; a reference).
Generation: fairseq-interactive continues prompts of any length with memory carried across segments;
--max-len-b and --min-len count the tokens generated after the prompt (scripts/memformer_generate.py streams any
number of tokens in constant memory).
"""
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import torch
from fairseq import utils
from fairseq.data import Dictionary, TokenBlockDataset, data_utils, iterators
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.distributed import utils as dist_utils
from fairseq.models import ARCH_MODEL_REGISTRY
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from ..errors import check
from ..input_errors import eval_context_window
from ..models.memformer_lm import MemformerLanguageModel
from ..modules.memformer_decoder import MemformerDecoder
from ..training.memformer_mrbp import MODES, recurrent_train_step
from .memformer_stream_data import PromptDataset, StreamBlocks
from .memformer_streams import StreamRegistry

logger = logging.getLogger(__name__)
DEFAULT_HORIZON = 4  # segments per batch row when --tokens-per-sample is not given (the paper's Table 3 setting)


def context_window_refusal(window: int) -> str:
    return (f"--context-window={window} is not used by --task memformer_lm: the memory carries the context across "
            f"blocks; drop the flag")


@contextmanager
def lengths_after(generator, prompt_length: int):
    """fairseq's generator counts --max-len-b and --min-len from the first token, prompt included, which would
    leave a prompt as long as --max-len-b without a continuation; a Memformer continues prompts of any length, so
    here both count the tokens after the prompt."""
    if not hasattr(generator, "max_len_b"):  # a scorer, not a sequence generator
        yield
        return
    saved = generator.max_len_b, generator.min_len
    generator.max_len_b, generator.min_len = saved[0] + prompt_length, saved[1] + prompt_length
    try:
        yield
    finally:
        generator.max_len_b, generator.min_len = saved


def stream_registry(model) -> StreamRegistry:
    """The registry the task attached to ``model`` (plain, c10d DDP or legacy DDP wrapped)."""
    module = model
    while not isinstance(getattr(module, "streams", None), StreamRegistry):
        check(hasattr(module, "module"), f"--task memformer_lm trains models it built; got {type(model).__name__}")
        module = module.module
    return module.streams


@dataclass
class MemformerLMConfig(FairseqDataclass):
    data: str = field(default="???", metadata={"help": "data directory (fairseq-preprocess --only-source)"})
    tokens_per_sample: int = field(
        default=0,
        metadata={"help": "tokens of each stream per batch: a multiple of the model's segment length L (0: 4 L); "
                          "the MRBP horizon is tokens_per_sample / L segments"},
    )
    memformer_backprop: ChoiceEnum(list(MODES)) = field(
        default="mrbp", metadata={"help": "mrbp (memory flat in the horizon) or full (BPTT keeping every graph)"}
    )
    batch_size: Optional[int] = II("dataset.batch_size")
    max_tokens: Optional[int] = II("dataset.max_tokens")
    batch_size_valid: Optional[int] = II("dataset.batch_size_valid")
    train_subset: str = II("dataset.train_subset")
    max_target_positions: int = II("task.tokens_per_sample")  # read by other models' configs
    data_parallel_rank: Optional[int] = None
    data_parallel_size: Optional[int] = None


@register_task("memformer_lm", dataclass=MemformerLMConfig)
class MemformerLMTask(FairseqTask):
    contiguous_streams = True  # memformer_lm models accept only tasks that say so

    def __init__(self, cfg: MemformerLMConfig, dictionary: Dictionary):
        super().__init__(cfg)
        self.dictionary = dictionary
        self.block_length = cfg.tokens_per_sample or None  # tokens per stream per batch; 4 segments when 0
        if cfg.data_parallel_rank is None or cfg.data_parallel_size is None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            cfg.data_parallel_rank = dist_utils.get_data_parallel_rank() if distributed else 0
            cfg.data_parallel_size = dist_utils.get_data_parallel_world_size() if distributed else 1

    @classmethod
    def setup_task(cls, cfg: MemformerLMConfig, **kwargs):
        window = eval_context_window(cfg)  # before the block checks: fairseq-eval-lm shrank the block by it
        check(window == 0, context_window_refusal(window))
        check(cfg.tokens_per_sample >= 0, f"--tokens-per-sample must be >= 1 (or 0: four segments), "
                                          f"got {cfg.tokens_per_sample}")
        paths = utils.split_paths(cfg.data)
        check(len(paths) > 0, "--task memformer_lm needs a data directory")
        return cls(cfg, Dictionary.load(os.path.join(paths[0], "dict.txt")))

    def build_model(self, cfg, from_checkpoint=False):
        arch = getattr(cfg, "arch", None) or getattr(cfg, "_name", None)
        refusal = f"--task memformer_lm trains memformer_lm models only (--arch memformer_lm*); got --arch {arch}"
        model_cls = ARCH_MODEL_REGISTRY.get(arch)
        check(model_cls is None or issubclass(model_cls, MemformerLanguageModel), refusal)  # before it is built
        model = super().build_model(cfg, from_checkpoint)
        decoder = getattr(model, "decoder", None)
        check(isinstance(decoder, MemformerDecoder), refusal)
        segment = decoder.segment_length
        self.block_length = self.cfg.tokens_per_sample or DEFAULT_HORIZON * segment
        check(self.block_length % segment == 0,
              f"--tokens-per-sample={self.block_length} is not a multiple of the model's "
              f"--memformer-segment-length={segment} (each batch row holds whole segments)")
        logger.info(f"memformer_lm: {self.block_length // segment} segments of {segment} tokens per batch "
                    f"row ({self.cfg.memformer_backprop} over that horizon)")
        StreamRegistry().attach(model)
        return model

    # -- data ----------------------------------------------------------------------------------------------
    def rows(self, split: str) -> int:
        """Parallel streams of ``split``: training --batch-size, else --max-tokens / --tokens-per-sample;
        evaluation --batch-size-valid (which defaults to --batch-size), else one stream: the whole split."""
        if split == self.cfg.train_subset:
            rows = self.cfg.batch_size or (self.cfg.max_tokens or 0) // self.block_length
            check(rows >= 1, f"--task memformer_lm needs --batch-size (parallel streams) or --max-tokens >= "
                             f"--tokens-per-sample={self.block_length}")
            return rows
        rows = self.cfg.batch_size_valid or self.cfg.batch_size or 1
        check(rows >= 1, f"--batch-size-valid must be >= 1, got {rows}")
        return rows

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        paths = utils.split_paths(self.cfg.data)
        path = os.path.join(paths[(epoch - 1) % len(paths)], split)
        data = data_utils.load_indexed_dataset(path, self.dictionary, combine=combine)
        if data is None:
            raise FileNotFoundError(f"Dataset not found: {split} ({path})")
        check(self.block_length is not None, "--task memformer_lm loads data after building the model (its "
                                             "segment length sets the default --tokens-per-sample)")
        length = self.block_length
        blocks = TokenBlockDataset(data, data.sizes, block_size=length, pad=None, eos=None, break_mode="none")
        rows, shards = self.rows(split), self.cfg.data_parallel_size
        flag = "--batch-size" if split == self.cfg.train_subset else "--batch-size-valid"
        check(len(blocks) >= rows * shards,
              f"split {split!r} holds {int(data.sizes.sum())} tokens: too few for {rows * shards} streams of "
              f"--tokens-per-sample={length} (lower {flag} or --tokens-per-sample)")
        dataset = StreamBlocks(
            blocks, rows, split, self.dictionary.pad(), self.dictionary.eos(), self.cfg.data_parallel_rank, shards
        )
        unused = len(blocks) - len(dataset) * rows * shards
        logger.info(f"memformer_lm: split {split!r} as {rows * shards} streams of {len(dataset)} blocks"
                    + (f"; {unused} trailing block(s) do not fill every stream and are left out" if unused else ""))
        self.datasets[split] = dataset

    def get_batch_iterator(self, dataset, num_workers=0, epoch=1, data_buffer_size=0, skip_remainder_batch=False,
                           **unused):
        """Item i is already batch i: keep the order, no size-based batching, no shuffling."""
        return iterators.EpochBatchIterator(
            dataset=dataset,
            collate_fn=dataset.collater,
            batch_sampler=[[i] for i in range(len(dataset))],
            num_workers=num_workers,
            epoch=epoch,
            buffer_size=data_buffer_size,
            disable_shuffling=True,
            skip_remainder_batch=skip_remainder_batch,
        )

    def eval_lm_dataloader(self, dataset, max_tokens=None, batch_size=None, max_positions=None, num_shards=1,
                           shard_id=0, num_workers=1, data_buffer_size=10, context_window=0):
        check(context_window == 0, context_window_refusal(context_window))
        return self.get_batch_iterator(dataset, num_workers=num_workers, data_buffer_size=data_buffer_size) \
            .next_epoch_itr(shuffle=False)

    # -- steps ---------------------------------------------------------------------------------------------
    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        model.train()
        model.set_num_updates(update_num)
        streams, position = stream_registry(model), sample["net_input"].get("stream")
        state = None if position is None else streams.state_for(position, sample["net_input"]["src_tokens"].size(0))
        loss, sample_size, logging_output, final = recurrent_train_step(
            model, criterion, sample, optimizer, mode=str(self.cfg.memformer_backprop), ignore_grad=ignore_grad,
            state=state
        )
        if position is not None and not ignore_grad:  # fairseq's dummy batches must not advance the streams
            streams.commit(position, state, final, training=True)
        return loss, sample_size, logging_output

    def begin_valid_epoch(self, epoch, model):
        stream_registry(model).reset_evaluation()  # block 0 starts them afresh anyway; frees their memory

    # -- generation ------------------------------------------------------------------------------------------
    def build_dataset_for_inference(self, src_tokens, src_lengths, **kwargs):
        return PromptDataset(src_tokens, self.dictionary.pad(), self.dictionary.eos())

    def inference_step(self, generator, models, sample, prefix_tokens=None, constraints=None):
        check(constraints is None, "--constraints is not supported by --task memformer_lm")
        with torch.no_grad():
            prompt = sample["net_input"]["src_tokens"][:, 1:]  # eos, then the prompt (PromptDataset)
            if prefix_tokens is None and prompt.numel():
                prefix_tokens = prompt  # forced after eos, then continued
            forced = 0 if prefix_tokens is None else int(prefix_tokens.ne(self.dictionary.pad()).sum(dim=1).max())
            with lengths_after(generator, forced):
                return generator.generate(models, sample, prefix_tokens=prefix_tokens,
                                          bos_token=self.dictionary.eos())

    @property
    def source_dictionary(self):
        return self.dictionary

    @property
    def target_dictionary(self):
        return self.dictionary
