#!/usr/bin/env python
"""Stream text from a memformer_lm checkpoint in constant memory, for any length.

fairseq-interactive continues prompts with memory carried across segments, but its sequence generator keeps a
token and score buffer per hypothesis and stops at --max-len-b. This script reads a prompt of any length (``--prompt``
or ``--prompt-file``; one stream, lines joined with the dictionary's eos as in training data), then samples
``--num-tokens`` tokens, writing each line as soon as it ends. Only the decoder's recurrent state is kept (memory,
the current segment's encoder states and layer caches), so memory use does not grow with either length.

    python scripts/memformer_generate.py DATA --path checkpoints/checkpoint_best.pt --prompt "The assert" \\
        --num-tokens 1000 --sampling-topk 10 --seed 1 --cpu
"""
import argparse
import os
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="binarised data directory (its dict.txt)")
    parser.add_argument("--path", required=True, help="memformer_lm checkpoint")
    parser.add_argument("--user-dir", default=os.path.join(REPO, "memattn_fairseq"))
    parser.add_argument("--prompt", default="", help="prompt text (tokens separated by spaces)")
    parser.add_argument("--prompt-file", help="read the prompt from this file (lines end with eos)")
    parser.add_argument("--num-tokens", type=int, default=200, help="tokens to generate")
    parser.add_argument("--sampling-topk", type=int, default=0, help="sample among the k likeliest (0: all)")
    parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (0: greedy)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    parser.add_argument("--report-state", action="store_true",
                        help="print the decoder state's bytes at every segment start (stderr)")
    return parser.parse_args(argv)


def prompt_tokens(args, dictionary) -> torch.Tensor:
    lines = open(args.prompt_file).read().splitlines() if args.prompt_file else [args.prompt]
    pieces = [dictionary.encode_line(line, add_if_not_exist=False, append_eos=bool(args.prompt_file)) for line in lines]
    return torch.cat(pieces).long() if pieces else torch.zeros(0, dtype=torch.long)


def next_token(logits: torch.Tensor, args) -> torch.Tensor:
    """logits [1,V] -> [1,1]"""
    if args.temperature == 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits.float() / args.temperature
    if args.sampling_topk > 0:
        kth = logits.topk(args.sampling_topk, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, dim=-1), 1)


def main(argv=None):
    args = parse_args(argv)
    from fairseq import checkpoint_utils, utils

    utils.import_user_module(argparse.Namespace(user_dir=args.user_dir))
    from memattn_fairseq.modules.incremental_state import state_bytes
    from memattn_fairseq.modules.memformer_decoder import MemformerDecoder

    torch.manual_seed(args.seed)
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([args.path], arg_overrides={"data": args.data})
    model = models[0].eval()
    if not isinstance(getattr(model, "decoder", None), MemformerDecoder):
        sys.exit(f"memformer_generate: error: {args.path} is not a memformer_lm checkpoint")
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    model.to(device)
    dictionary = task.target_dictionary
    state = {}

    @torch.no_grad()
    def feed(token: torch.Tensor) -> torch.Tensor:
        """token [1,1] -> logits [1,V] for the token after it"""
        logits, _ = model.decoder(token.to(device), incremental_state=state)
        return logits[:, -1]

    logits = feed(torch.tensor([[dictionary.eos()]]))
    for token in prompt_tokens(args, dictionary).tolist():
        logits = feed(torch.tensor([[token]]))
    segment, line = model.decoder.segment_length, []
    for step in range(args.num_tokens):
        if args.report_state and step % segment == 0:
            print(f"state bytes: {state_bytes(state)}", file=sys.stderr)
        token = next_token(logits, args)
        symbol = token.item()
        if symbol == dictionary.eos():
            print(" ".join(line), flush=True)
            line = []
        else:
            line.append(dictionary[symbol])
        logits = feed(token)
    if line:
        print(" ".join(line), flush=True)


if __name__ == "__main__":
    main()
