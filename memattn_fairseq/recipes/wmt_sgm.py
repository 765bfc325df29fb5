"""Sentences of a WMT newstest SGM file, extracted as sacreBLEU extracts its references.

WMT's pre-2021 "SGM" is not parseable XML (bare ``&``, ``<`` inside text); every ``<seg id="N">...</seg>`` sits on
its own line. The text between the tags is kept as is (no entity unescaping) with its whitespace collapsed, so
the files written from it equal sacreBLEU's references for the same test set.
"""
import re

from ..errors import ConfigError

SEG = re.compile(r"<seg[^>]*>(.*)</seg>")


def segments(lines, name: str = "SGM file") -> list:
    """The ``<seg>`` texts of ``lines`` (an SGM file's lines), in order."""
    found = []
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("<seg"):
            match = SEG.search(line)
            if match is None:
                raise ConfigError(f"{name} line {number}: a <seg> without </seg> on the same line")
            found.append(" ".join(match.group(1).split()))
    return found
