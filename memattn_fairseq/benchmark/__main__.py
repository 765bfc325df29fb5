"""python -m memattn_fairseq.benchmark: the plugin's models beside fairseq's transformer, measured in one run.

Sections (choose with --sections):
    decode_lm  per-token latency and decoder-state bytes against prefix length, at each --batches
    decode_mt  the same against source length (translation: bounded cross-attention vs a source-length KV cache)
    train_lm   tokens/s and peak memory of one forward+backward of a single sequence against context length
    mrbp       Memformer: peak memory of an MRBP step against horizon H, beside full back-propagation
    attention  the attention cores alone against context length: the plugin's causal forms beside the peer forms
               of the same math (a two-pass chunked linear attention, torch's SDPA), with GFLOP/s
    step       one decoding step of the ABC_MLP and MemSizer cores beside a minimal in-place step of the same math,
               at each --batches
    serve      batched generation after --serve-prefix tokens: tokens/s at the largest batch whose decoder state
               fits --serve-budget-gb (every LM but Memformer: see serving.py)

Timings are the median and the interquartile range of --repeats calls after --warmup calls. Writes results.csv,
results.md (tables with ratios to the transformer and the target checks) and PNG plots into --out-dir; a terminal
shows a progress bar. --quick runs a tiny configuration in seconds (the tests use it).
"""
import argparse
import datetime
import os
import platform
import sys

import torch

from .. import model_factory, model_list
from . import attention_core, decoding, mrbp, report, serving, step_core, training
from .progress import Progress, planned

DEFAULTS = dict(layers=6, dim=512, heads=8, ffn=2048, vocab=10000, slots=64,
                prefixes="64,256,1024,4096,16384", sources="64,256,1024,4096", contexts="512,1024,2048,4096,8192",
                batches="1,8", horizons="2,4,8,16", warmup=3, repeats=10, serve_prefix=4096, serve_budget_gb=8.0)
QUICK = dict(layers=2, dim=32, heads=4, ffn=64, vocab=100, slots=8, prefixes="16,64", sources="16,64",
             contexts="32,64", batches="1,2", horizons="2,4", warmup=1, repeats=2, serve_prefix=32,
             serve_budget_gb=0.0005)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (GPU timings synchronise first)")
    parser.add_argument("--out-dir", default="runs/benchmark")
    parser.add_argument("--sections", default="decode_lm,decode_mt,train_lm,mrbp,attention,step,serve")
    parser.add_argument("--models", default="", help="comma list of model names to keep (default: every model of memattn_fairseq/model_list.py)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and lengths: checks the harness only")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--batched-prefix-limit", type=int, default=4096,
                        help="longest prefix measured at batch sizes above 1 (a 16k-token KV cache at batch 8 is "
                             "several GB per layer stack on a CPU)")
    parser.add_argument("--attention-recompute", choices=("on", "off", "both"), default="on",
                        help="the bounded models' --attention-recompute; both: train_lm also measures each of them "
                             "with it off, in rows named <model>_norecompute")
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=type(value), default=None,
                            help=f"default {value} ({QUICK[name]} with --quick)")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def ints(text):
    return [int(x) for x in str(text).split(",") if x]


def sizes(args, prefix: str):
    common = dict(dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
    if prefix == "decoder":
        return dict(common, decoder_layers=args.layers, decoder_embed_dim=args.dim, decoder_input_dim=args.dim,
                    decoder_output_dim=args.dim, decoder_ffn_embed_dim=args.ffn, decoder_attention_heads=args.heads,
                    share_decoder_input_output_embed=True)
    return dict(sizes(args, "decoder"), encoder_layers=args.layers, encoder_embed_dim=args.dim,
                encoder_ffn_embed_dim=args.ffn, encoder_attention_heads=args.heads, share_all_embeddings=True)


def run(args):
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep = set(filter(None, args.models.split(",")))
    sections = set(args.sections.split(","))
    rows = []
    longest = max(ints(args.prefixes) + ints(args.contexts) + [args.serve_prefix]) + args.warmup + args.repeats + 8

    def build(entry, kind, recompute="on"):
        """The model list's entry at this run's size and slots (``recompute``: its --attention-recompute)."""
        extra = dict(max_target_positions=longest, tokens_per_sample=longest, max_source_positions=longest)
        options = entry.with_slots(args.slots).options
        if entry.stream:  # Memformer: the paper's 4 + 16 layer ratio, the MRBP section's segments
            extra = dict(encoder_layers=max(1, args.layers // 4),
                         memformer_segment_length=mrbp.segment_length(args))
        elif not entry.baseline:
            extra["attention_recompute"] = recompute
        return model_factory.build(entry.arch, vocab_size=args.vocab, **sizes(args, kind), **{**options, **extra}).to(device)

    lm_models = [m for m in model_list.models("lm") if not keep or m.name in keep]
    mt_models = [m for m in model_list.models("mt") if not keep or m.name in keep]
    recompared = sum(compares_recompute(args, m) for m in lm_models)
    served = sum(not m.stream for m in lm_models)
    progress = Progress(planned(args, len(lm_models), len(mt_models), sections, ints, recompared, served))
    try:
        measure_all(args, device, sections, lm_models, mt_models, build, progress, rows)
    finally:
        progress.close()
    return rows


def compares_recompute(args, entry) -> bool:
    """Whether train_lm also measures ``entry`` with --attention-recompute off (a bounded model, both asked)."""
    return args.attention_recompute == "both" and not entry.baseline and not entry.stream


def train_rows(args, device, entry, name: str, model, progress) -> list:
    """train_lm rows of ``model`` (the list's ``entry``) at every context, named ``name``."""
    measure = training.memformer_training if entry.stream else training.lm_training
    out = []
    for context in ints(args.contexts):
        progress(f"train_lm {name} context {context}")
        result = measure(model, context, device, max(1, args.warmup // 2), max(2, args.repeats // 3), args.vocab)
        out.append(dict(section="train_lm", model=name, batch=1, length=context, **result))
    return out


def measure_all(args, device, sections, lm_models, mt_models, build, progress, rows):
    """Every planned measurement, appended to ``rows``; ``progress`` is told as each one starts."""
    if sections & {"decode_lm", "train_lm", "serve"}:
        for entry in lm_models:
            model = build(entry, "decoder", "off" if args.attention_recompute == "off" else "on")
            if "serve" in sections and not entry.stream:  # serving.py: why Memformer is not served
                progress(f"serve {entry.name} prefix {args.serve_prefix}")
                result = serving.serving(model, args.serve_prefix, args.serve_budget_gb * 1e9, device, 1,
                                         max(2, args.repeats // 3), args.vocab)
                rows.append(dict(section="serve", model=entry.name, batch=args.serve_budget_gb,
                                 length=args.serve_prefix, **result))
            if "decode_lm" in sections:
                for batch in ints(args.batches):
                    for prefix in ints(args.prefixes):
                        if batch > 1 and prefix > args.batched_prefix_limit:
                            continue
                        progress(f"decode_lm {entry.name} batch {batch} prefix {prefix}")
                        measure = decoding.memformer_decoding if entry.stream else decoding.lm_decoding
                        result = measure(model, batch, prefix, device, args.warmup, args.repeats, args.vocab)
                        rows.append(dict(section="decode_lm", model=entry.name, batch=batch, length=prefix, **result))
            if "train_lm" in sections:
                rows += train_rows(args, device, entry, entry.name, model, progress)
            del model
            if "train_lm" in sections and compares_recompute(args, entry):
                rows += train_rows(args, device, entry, f"{entry.name}_norecompute", build(entry, "decoder", "off"),
                                   progress)
    if "decode_mt" in sections:
        for entry in mt_models:
            model = build(entry, "encoder")
            for batch in ints(args.batches):
                for source in ints(args.sources):
                    progress(f"decode_mt {entry.name} batch {batch} source {source}")
                    result = decoding.mt_decoding(model, batch, source, device, args.warmup, args.repeats, args.vocab)
                    rows.append(dict(section="decode_mt", model=entry.name, batch=batch, length=source, **result))
            del model
    if "mrbp" in sections:  # Memformer's MRBP against full back-propagation
        rows += mrbp.rows(args, device, ints(args.horizons), progress)
    if "attention" in sections:  # the attention cores beside the peer forms of the same math
        rows += attention_core.rows(args, device, ints(args.contexts), progress)
    if "step" in sections:  # the decoding steps of the cores beside minimal in-place steps
        rows += step_core.rows(args, device, ints(args.batches), progress)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    rows = run(args)
    report.write_csv(rows, os.path.join(args.out_dir, "results.csv"))
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    header = (f"# Benchmark ({stamp}, {args.device}, {platform.processor() or platform.machine()}, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads)\n\n"
              f"LM: {args.layers} layers, d={args.dim}, {args.heads} heads, FFN {args.ffn}, vocab {args.vocab}, "
              f"{args.slots} memory slots, fp32. Command: `python -m memattn_fairseq.benchmark {' '.join(sys.argv[1:])}`")
    checks = report.target_checks(rows)
    text = report.markdown(rows, header) + ("\n## Targets\n\n" + "\n".join(checks) + "\n" if checks else "")
    with open(os.path.join(args.out_dir, "results.md"), "w") as f:
        f.write(text)
    written = report.plots(rows, args.out_dir)
    print(f"[benchmark] wrote {len(rows)} rows, results.csv, results.md and {len(written)} plots to {args.out_dir}")
    print("\n".join(checks))


if __name__ == "__main__":
    main()
