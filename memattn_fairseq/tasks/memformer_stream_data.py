"""A split as B contiguous streams: item i is a whole batch, block i of every stream, so batch i+1 continues
batch i row for row (the classic RNN-LM "batchify", as in fairseq's truncated_bptt example).

Layout: the split's token stream (lines joined, each ending in eos) is cut into blocks of T tokens; the blocks are
laid out row-major as [rows x blocks_per_row] (the remainder that does not fill every row is dropped), each
data-parallel rank taking its own rows. A batch is

    target      [B,T]  block i of every row (right-padded when the split's last block is short)
    src_tokens  [B,T]  the decoder inputs: the token before each target (eos at the start of a row's stream)
    stream      StreamPosition(split, i): lets the model continue the streams' state between batches

so every token of the kept blocks is scored exactly once, the first one of each stream after eos.
"""
from typing import List, Optional, Sequence

import torch
from fairseq import utils
from fairseq.data import FairseqDataset, data_utils

from ..errors import check
from .memformer_streams import StreamPosition


def collate_blocks(index: int, targets: Sequence[torch.Tensor], previous: Sequence[torch.Tensor], pad: int,
                   split: Optional[str]) -> dict:
    """Batch of one block per row. targets: B tensors [n_b]; previous: B tensors [1] (the token before each)."""
    inputs = [torch.cat([prev, tgt])[: tgt.numel()] for prev, tgt in zip(previous, targets)]
    target = data_utils.collate_tokens(list(targets), pad)  # [B,T]
    src_tokens = data_utils.collate_tokens(inputs, pad)  # [B,T]
    lengths = torch.tensor([t.numel() for t in targets])
    net_input = {"src_tokens": src_tokens, "src_lengths": lengths}
    if split is not None:
        net_input["stream"] = StreamPosition(split, index)
    return {
        "id": torch.full((len(targets),), index, dtype=torch.long),
        "net_input": net_input,
        "target": target,
        "nsentences": len(targets),
        "ntokens": int(lengths.sum()),
    }


def block_sample(targets: torch.Tensor, dictionary) -> dict:
    """targets [B,T] -> a batch whose rows are fresh streams (their first input is eos), on targets' device."""
    eos = torch.tensor([dictionary.eos()])
    sample = collate_blocks(0, list(targets.cpu()), [eos] * targets.size(0), dictionary.pad(), split=None)
    return utils.apply_to_sample(lambda t: t.to(targets.device), sample)


def rows_layout(num_blocks: int, rows: int, shard_id: int, num_shards: int) -> torch.Tensor:
    """[rows, blocks_per_row] block indices of this rank's streams."""
    total_rows = rows * num_shards
    per_row = num_blocks // total_rows
    layout = torch.arange(per_row * total_rows).view(total_rows, per_row)
    return layout[shard_id * rows: (shard_id + 1) * rows]


class StreamBlocks(FairseqDataset):
    def __init__(self, blocks, rows: int, split: str, pad: int, eos: int, shard_id: int = 0, num_shards: int = 1):
        """blocks: fairseq TokenBlockDataset (break_mode none) or any list of consecutive 1-D token blocks."""
        self.blocks, self.split, self.pad, self.eos = blocks, split, pad, eos
        self.layout = rows_layout(len(blocks), rows, shard_id, num_shards)  # [B, blocks_per_row]

    def __len__(self) -> int:
        return self.layout.size(1)

    def __getitem__(self, index: int):
        rows = self.layout[:, index].tolist()
        targets = [self.blocks[b] for b in rows]
        if index == 0:
            previous = [torch.tensor([self.eos]) for _ in rows]
        else:
            previous = [self.blocks[b - 1][-1:] for b in rows]  # the block before, in the same row
        return index, targets, previous

    def collater(self, items: List) -> dict:
        check(len(items) == 1, "memformer_lm batches are whole dataset items; batch sampler misconfigured")
        index, targets, previous = items[0]
        return collate_blocks(index, targets, previous, self.pad, self.split)


class PromptDataset(FairseqDataset):
    """Prompts for generation and scoring (fairseq-interactive, the hub interface's sample() and score()), one per
    batch, each a fresh stream, laid out as fairseq's language_modeling task lays them out: ``src_tokens`` is eos
    then the prompt (the decoder inputs), ``target`` the prompt then pad (what each input predicts). Generation
    forces the prompt as the prefix after eos, then continues it."""

    def __init__(self, prompts: Sequence[torch.Tensor], pad: int, eos: int):
        self.prompts, self.pad, self.eos = prompts, pad, eos

    def __len__(self) -> int:
        return len(self.prompts)

    def __getitem__(self, index: int):
        prompt = self.prompts[index]
        if prompt.numel() and prompt[-1] == self.eos:
            prompt = prompt[:-1]  # the line's eos would end the prompt: generation continues it instead
        return index, prompt

    def collater(self, items: List) -> dict:
        index, prompt = items[0]
        inputs = torch.cat([prompt.new_tensor([self.eos]), prompt]).unsqueeze(0)  # [1,P+1]
        target = torch.cat([prompt, prompt.new_tensor([self.pad])]).unsqueeze(0)  # [1,P+1]
        return {
            "id": torch.tensor([index]),
            "net_input": {"src_tokens": inputs, "src_lengths": torch.tensor([inputs.size(1)])},
            "target": target,
            "nsentences": 1,
            "ntokens": prompt.numel(),
        }
