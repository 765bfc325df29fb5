"""BLEU scoring (sacreBLEU on detokenised text, tokenised compound-split BLEU) and reading fairseq-generate output."""
import json

import pytest
import sacrebleu

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.recipes import bleu
from memattn_fairseq.recipes.generation_log import parse_generate

REFS = ["Das kleine Haus hat eine E-Mail-Adresse.", "Wir sehen den Bahn-Hof am Wochen-Ende!", "Er zahlt 3-4 Euro."]


def test_identical_text_scores_100_on_both():
    scores = bleu.score(REFS, REFS)
    assert scores["sacrebleu"]["score"] == pytest.approx(100)
    assert scores["compound_split_bleu"]["score"] == pytest.approx(100)
    assert "tok:13a" in scores["sacrebleu"]["signature"]


def test_compounds_are_split_as_compound_split_bleu_sh_does():
    at = "##AT##-##AT##"
    assert bleu.split_compounds("Vor-Ort-Team und E-Mail") == f"Vor {at} Ort {at} Team und E {at} Mail"
    assert bleu.split_compounds("a - b , x-") == "a - b , x-"  # a free-standing dash is not a compound
    # 13a keeps intra-word hyphens (so splitting applies) and detaches punctuation; a digit's dash is split by 13a
    assert bleu.compound_split_tokens(REFS[0]) == f"Das kleine Haus hat eine E {at} Mail {at} Adresse ."
    assert bleu.compound_split_tokens(REFS[2]) == "Er zahlt 3 - 4 Euro ."


def test_compound_split_bleu_is_bleu_on_the_split_tokens():
    hyps = ["Das kleine Haus hat eine Mail-Adresse.", "Wir sehen den Bahnhof am Wochen-Ende.", "Er zahlt 4 Euro."]
    split = [[bleu.compound_split_tokens(line) for line in side] for side in (hyps, REFS)]
    expected = sacrebleu.corpus_bleu(split[0], [split[1]], tokenize="none", smooth_method="none", force=True).score
    got = bleu.compound_split_bleu(hyps, REFS)["score"]
    assert got == pytest.approx(expected) and got != pytest.approx(bleu.sacre_bleu(hyps, REFS)["score"])
    # splitting gives a half-right compound n-gram credit
    hyp, ref = ["Wir sehen eine Mail-Adresse im Haus heute"], ["Wir sehen eine E-Mail-Adresse im Haus heute"]
    unsplit = sacrebleu.corpus_bleu(hyp, [ref], tokenize="none", smooth_method="none", force=True).score
    assert bleu.compound_split_bleu(hyp, ref)["score"] > unsplit


def test_sacrebleu_is_the_standard_detokenised_score():
    hyps = ["Das kleine Haus hat eine Adresse.", "Wir sehen den Bahn-Hof.", "Er zahlt 3-4 Euro."]
    assert bleu.sacre_bleu(hyps, REFS)["score"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [REFS]).score)


def test_cli_scores_files(tmp_path, capsys):
    (tmp_path / "hyps.txt").write_text("\n".join(REFS) + "\n")
    (tmp_path / "refs.txt").write_text("\n".join(REFS) + "\n")
    bleu.main(["--hyps", str(tmp_path / "hyps.txt"), "--refs", str(tmp_path / "refs.txt"), "--json"])
    scores = json.loads(capsys.readouterr().out)
    assert [scores[m]["score"] for m in ("sacrebleu", "compound_split_bleu")] == pytest.approx([100, 100])
    with pytest.raises(ConfigError, match="--refs .*missing.txt does not exist"):
        bleu.main(["--hyps", str(tmp_path / "hyps.txt"), "--refs", str(tmp_path / "missing.txt")])


def test_misaligned_files_are_refused():
    with pytest.raises(ConfigError, match="2 hypotheses but 3 references"):
        bleu.score(REFS[:2], REFS)


GENERATE_OUTPUT = """\
2026-01-01 10:00:00 | INFO | fairseq_cli.generate | loading model(s) from avg.pt
S-2\tEr zahlt 3-4 Euro.
T-2\tEr zahlt 3-4 Euro.
H-2\t-0.52\tEr zahlt 3-4 Euro.
D-2\t-0.52\tEr zahlt 3-4 Euro.
P-2\t-0.1 -0.2 -0.3
S-0\tThe small house.
T-0\tDas kleine Haus.
H-0\t-0.31\tDas kleine Haus.
D-0\t-0.31\tDas kleine Haus.
H-0\t-0.90\tDas Haus.
D-0\t-0.90\tDas Haus.
S-1\tWe see.
T-1\tWir sehen.
H-1\t-1.5\t
D-1\t-1.5\t
2026-01-01 10:00:01 | INFO | fairseq_cli.generate | NOTE: hypothesis and token scores are output in base 2
2026-01-01 10:00:01 | INFO | fairseq_cli.generate | Translated 3,003 sentences (86,193 tokens) in 41.2s \
(72.89 sentences/s, 2091.78 tokens/s)
Generate test with beam=4: BLEU4 = 27.31, 58.8/33.0/20.9/13.7 (BP=1.000, ratio=1.013, syslen=65403, reflen=64572)
"""


def test_generate_output_is_read_back_in_test_set_order():
    log = parse_generate(GENERATE_OUTPUT)
    assert log.ordered() == ["Das kleine Haus.", "", "Er zahlt 3-4 Euro."]  # the best (first) of an n-best list
    assert log.targets[1] == "Wir sehen." and log.scores[0] == -0.31 and log.sources[2] == "Er zahlt 3-4 Euro."
    assert log.speed == {"sentences": 3003, "tokens": 86193, "seconds": 41.2, "sentences_per_s": 72.89,
                         "tokens_per_s": 2091.78}


def test_missing_hypotheses_are_an_error_not_a_shorter_corpus():
    log = parse_generate(GENERATE_OUTPUT)
    with pytest.raises(ConfigError, match="no hypothesis for 1 of 4 sentences .first missing id 3."):
        log.ordered(4)
