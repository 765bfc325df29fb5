"""BLEU as the WMT'14 En-De papers report it, computed with the sacrebleu package on local references.

* ``sacrebleu``: detokenised hypotheses against the plain-text references (``DATA/raw/test.de``), sacreBLEU's
  default 13a tokenisation, mixed case, exponential smoothing: the number fairseq's ``scripts/sacrebleu.sh`` prints,
  except that the references are the local file (sacreBLEU cannot download ``wmt14/full`` here).
* ``compound_split_bleu``: what fairseq's ``scripts/compound_split_bleu.sh`` (after tensor2tensor's
  ``get_ende_bleu.sh``) reports, the number of Vaswani et al. and Ott et al.: hypotheses and references are tokenised
  (here with sacreBLEU's 13a tokeniser, which keeps intra-word hyphens), every ``a-b`` becomes
  ``a ##AT##-##AT## b``, and BLEU is taken on those tokens as they are (no further tokenisation, no smoothing,
  as ``fairseq-score``).

Every score is printed as sacreBLEU prints it, after its signature (``BLEU|nrefs:1|case:mixed|...|version:X =
score ...``): the compound-split score's signature says ``tok:none`` because its input is already tokenised.

    python -m memattn_fairseq.recipes.bleu --hyps hyps.txt --refs data-bin/wmt16_en_de/raw/test.de
"""
import argparse
import json
import os
import re
from typing import Dict, List, Sequence

from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from ..errors import check

# perl -ple 's{(\S)-(\S)}{$1 ##AT##-##AT## $2}g': non-overlapping, left to right, as re.sub
COMPOUND = re.compile(r"(\S)-(\S)")


def split_compounds(line: str) -> str:
    return COMPOUND.sub(r"\1 ##AT##-##AT## \2", line)


def _check_aligned(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    check(len(hypotheses) == len(references),
          f"{len(hypotheses)} hypotheses but {len(references)} references: the files are not aligned")
    check(len(references) > 0, "no sentences to score")


def sacre_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> Dict[str, object]:
    """sacreBLEU of detokenised text: {"score", "signature", "text"}; the text is the signature, then the score."""
    _check_aligned(hypotheses, references)
    return _scored(BLEU(), list(hypotheses), list(references))


def _scored(metric: BLEU, hypotheses: List[str], references: List[str]) -> Dict[str, object]:
    result = metric.corpus_score(hypotheses, [references])
    signature = str(metric.get_signature())
    return {"score": result.score, "signature": signature, "text": result.format(signature=signature)}


def compound_split_tokens(line: str, tokenizer=Tokenizer13a()) -> str:
    return split_compounds(tokenizer(line.strip()))


def compound_split_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> Dict[str, object]:
    """Tokenised, compound-split BLEU: {"score", "signature", "text"}."""
    _check_aligned(hypotheses, references)
    hyps: List[str] = [compound_split_tokens(h) for h in hypotheses]
    refs: List[str] = [compound_split_tokens(r) for r in references]
    return _scored(BLEU(tokenize="none", smooth_method="none", force=True), hyps, refs)


def score(hypotheses: Sequence[str], references: Sequence[str]) -> Dict[str, Dict[str, object]]:
    return {"sacrebleu": sacre_bleu(hypotheses, references),
            "compound_split_bleu": compound_split_bleu(hypotheses, references)}


def read_lines(path: str) -> List[str]:
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hyps", required=True, help="detokenised hypotheses, one a line, in test-set order")
    parser.add_argument("--refs", required=True, help="plain-text references, one a line (DATA/raw/test.de)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    args = parser.parse_args(argv)
    for flag, path in (("--hyps", args.hyps), ("--refs", args.refs)):
        check(os.path.isfile(path), f"{flag} {path} does not exist")
    scores = score(read_lines(args.hyps), read_lines(args.refs))
    if args.json:
        print(json.dumps(scores, indent=1))
    else:
        print(f"sacreBLEU: {scores['sacrebleu']['text']}")
        print(f"compound-split BLEU (13a tokens, a ##AT##-##AT## b): {scores['compound_split_bleu']['text']}")


if __name__ == "__main__":
    main()
