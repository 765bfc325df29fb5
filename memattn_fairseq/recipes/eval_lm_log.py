"""Read the log of ``fairseq-eval-lm``: loss and perplexity, tokens scored and their speed, model parameters.

    ... | num. model params: 1,944,832
    ... | Evaluated 245,569 tokens in 91.2s (2692.41 tokens/s)
    ... | Loss (base 2): 4.2341, Perplexity: 18.82
"""
import re
from typing import Dict

from ..errors import ConfigError, check

PARAMS = re.compile(r"num\. model params: ([\d,]+)")
EVALUATED = re.compile(r"Evaluated ([\d,]+) tokens in ([\d.]+)s \(([\d.]+) tokens/s\)")
LOSS = re.compile(r"Loss \(base 2\): ([\d.]+|inf|nan), Perplexity: ([\d.]+|inf|nan)")


def parse_eval_lm(text: str) -> Dict[str, float]:
    """{"loss_base2", "ppl", "tokens", "seconds", "tokens_per_s", "params"}; missing lines are left out."""
    found: Dict[str, float] = {}
    params = PARAMS.findall(text)
    if params:
        found["params"] = int(params[-1].replace(",", ""))
    evaluated = EVALUATED.findall(text)
    if evaluated:
        tokens, seconds, speed = evaluated[-1]
        found.update(tokens=int(tokens.replace(",", "")), seconds=float(seconds), tokens_per_s=float(speed))
    loss = LOSS.findall(text)
    if loss:
        found.update(loss_base2=float(loss[-1][0]), ppl=float(loss[-1][1]))
    return found


def read_eval_lm_log(path: str) -> Dict[str, float]:
    try:
        with open(path, encoding="utf-8") as handle:
            found = parse_eval_lm(handle.read())
    except OSError as exc:
        raise ConfigError(f"cannot read fairseq-eval-lm log {path}: {exc.strerror}") from None
    check("ppl" in found and "tokens" in found, f"{path} has no 'Loss (base 2): ..., Perplexity: ...' line: "
                                                "fairseq-eval-lm did not finish")
    return found
