"""Published figures that the results tables show beside the measured runs, each with its citation.

Figures are kept as the papers print them (strings: no precision is added). Only figures with a known source are
listed; ABC (Peng et al., ACL 2022) and MemSizer (Zhang & Cai, EMNLP 2022) tables are not reproduced here.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

CITATIONS = {
    "baevski2019": "Baevski & Auli, Adaptive Input Representations for Neural Language Modeling, ICLR 2019 "
                   "(arXiv 1809.10853); fairseq examples/language_model (eval: 3072-token blocks, "
                   "--context-window 2560)",
    "fairseq-lm-readme": "fairseq examples/language_model/README.md: transformer_lm, 512-token blocks, 50k updates, "
                         "fairseq-eval-lm --tokens-per-sample 512 --context-window 400",
    "kasai2021": "Kasai et al., Finetuning Pretrained Transformers into RNNs (T2R), EMNLP 2021 (arXiv 2103.13076), "
                 "as listed by paperswithcode; the code lineage of MemSizer's fairseq recipes",
    "wu2022": "Wu et al., Memformer: A Memory-Augmented Transformer for Sequence Modeling, Findings of AACL-IJCNLP "
              "2022 (arXiv 2010.06891v2), Table 2 (WikiText-103; the table does not name the split; "
              "hidden 512, FFN 2048, Transformer-XL with 16 layers)",
    "vaswani2017": "Vaswani et al., Attention Is All You Need, NeurIPS 2017: Transformer (big), newstest2014",
    "ott2018": "Ott et al., Scaling Neural Machine Translation, WMT 2018; fairseq examples/scaling_nmt: "
               "transformer_vaswani_wmt_en_de_big, last checkpoints averaged, beam 4, lenpen 0.6, newstest2014; "
               "compound-split BLEU (scripts/compound_split_bleu.sh) and sacreBLEU (wmt14/full, 13a)",
}


@dataclass(frozen=True)
class Anchor:
    task: str  # "wikitext103" or "wmt_en_de"
    model: str
    citation: str  # key of CITATIONS
    # valid_ppl, test_ppl, ppl (split not named); sacrebleu (with sacrebleu_signature as published),
    # compound_split_bleu, bleu (as the paper reports it)
    metrics: Dict[str, str] = field(default_factory=dict)
    memory: str = ""
    params: Optional[str] = None


ANCHORS: List[Anchor] = [
    Anchor("wikitext103", "Transformer, adaptive inputs (transformer_lm_wiki103)", "baevski2019",
           {"valid_ppl": "17.97", "test_ppl": "18.7"}, "KV cache", "247M"),
    Anchor("wikitext103", "Transformer LM (transformer_lm)", "fairseq-lm-readme", {"test_ppl": "30.46"}, "KV cache"),
    Anchor("wikitext103", "T2R + pretrain", "kasai2021", {"valid_ppl": "19.0", "test_ppl": "19.6"}),
    Anchor("wikitext103", "Memformer, 4 encoder + 16 decoder", "wu2022", {"ppl": "22.74"}),
    Anchor("wikitext103", "Memformer, memory 512 (ablation)", "wu2022", {"ppl": "23.30"}, "memory 512"),
    Anchor("wikitext103", "Compressive Transformer", "wu2022", {"ppl": "23.23"}, "mem 512, compressed 512"),
    Anchor("wikitext103", "Transformer-XL base", "wu2022", {"ppl": "23.95"}, "mem 1600"),
    Anchor("wikitext103", "Transformer-XL base", "wu2022", {"ppl": "27.22"}, "mem 32"),
    Anchor("wmt_en_de", "Transformer (big)", "vaswani2017", {"bleu": "28.4"}, "KV cache"),
    Anchor("wmt_en_de", "Transformer (big), fairseq", "ott2018",
           {"compound_split_bleu": "29.3", "sacrebleu": "28.6",
            "sacrebleu_signature": "BLEU+case.mixed+lang.en-de+numrefs.1+smooth.exp+test.wmt14/full+tok.13a+version.1.4.3"},
           "KV cache"),
    Anchor("wmt_en_de", "T2R + pretrain", "kasai2021", {"bleu": "28.7"}),
]


def anchors_for(task: str) -> List[Anchor]:
    return [anchor for anchor in ANCHORS if anchor.task == task]
