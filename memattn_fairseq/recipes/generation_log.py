"""Read the output of ``fairseq-generate``: the S-/T-/H-/D- lines by sentence id and the speed line.

fairseq-generate prints sentences in batch order (sorted by length), so hypotheses are put back in test-set order by
id before they are scored against the reference file. Lines look like::

    S-12<TAB>source            T-12<TAB>target (post-processed)
    H-12<TAB>-0.41<TAB>hyp     D-12<TAB>-0.41<TAB>detokenised hyp
    ... | Translated 3,003 sentences (86,193 tokens) in 41.2s (72.89 sentences/s, 2091.78 tokens/s)
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..errors import ConfigError, check

SPEED = re.compile(
    r"Translated ([\d,]+) sentences \(([\d,]+) tokens\) in ([\d.]+)s \(([\d.]+|inf|nan) sentences/s, "
    r"([\d.]+|inf|nan) tokens/s\)"
)
LINE = re.compile(r"^([STHD])-(\d+)\t(.*)$")


@dataclass
class GenerationLog:
    sources: Dict[int, str] = field(default_factory=dict)
    targets: Dict[int, str] = field(default_factory=dict)
    hypotheses: Dict[int, str] = field(default_factory=dict)  # H-: after --post-process
    detokenized: Dict[int, str] = field(default_factory=dict)  # D-: after --tokenizer/--bpe decoding too
    scores: Dict[int, float] = field(default_factory=dict)
    speed: Optional[Dict[str, float]] = None

    def ordered(self, count: Optional[int] = None, detokenized: bool = True) -> List[str]:
        """Best hypotheses in test-set order, ids 0..count-1 (count: the number of sources seen)."""
        lines = self.detokenized if detokenized else self.hypotheses
        count = len(self.sources) if count is None else count
        missing = [i for i in range(count) if i not in lines]
        check(not missing, f"fairseq-generate output has no hypothesis for {len(missing)} of {count} sentences "
                           f"(first missing id {missing[0] if missing else ''}); were inputs skipped as too long?")
        return [lines[i] for i in range(count)]


def parse_generate(text: str) -> GenerationLog:
    """Every S-/T-/H-/D- line (the first, best, hypothesis per id) and the 'Translated ...' speed line."""
    log = GenerationLog()
    for line in text.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        kind, sid, rest = match.group(1), int(match.group(2)), match.group(3)
        if kind == "S":
            log.sources[sid] = rest
        elif kind == "T":
            log.targets[sid] = rest
        else:
            score, _, hypothesis = rest.partition("\t")
            table = log.hypotheses if kind == "H" else log.detokenized
            if sid not in table:  # with --nbest > 1 the best comes first
                table[sid] = hypothesis
                log.scores.setdefault(sid, float(score))
    speeds = SPEED.findall(text)
    if speeds:
        sentences, tokens, seconds, per_second, tokens_per_second = speeds[-1]
        log.speed = {
            "sentences": int(sentences.replace(",", "")),
            "tokens": int(tokens.replace(",", "")),
            "seconds": float(seconds),
            "sentences_per_s": float(per_second),
            "tokens_per_s": float(tokens_per_second),
        }
    return log


def read_generate_log(path: str) -> GenerationLog:
    try:
        with open(path, encoding="utf-8") as handle:
            log = parse_generate(handle.read())
    except OSError as exc:
        raise ConfigError(f"cannot read fairseq-generate output {path}: {exc.strerror}") from None
    check(log.speed is not None, f"{path} has no 'Translated N sentences' line: fairseq-generate did not finish")
    return log
