"""The benchmark reports every timing as its median and interquartile range (tables and plots) and shows its
progress in a terminal."""
import csv
import io

import pytest

from memattn_fairseq.benchmark import report
from memattn_fairseq.benchmark.__main__ import main
from memattn_fairseq.benchmark.measure import Spread


def test_spread_holds_the_quartiles_and_turns_times_into_rates():
    spread = Spread.of([0.5, 0.1, 0.4, 0.2, 0.3])
    assert (spread.median, spread.q1, spread.q3) == pytest.approx((0.3, 0.2, 0.4))
    rate = spread.inverse(60)  # tokens/s from seconds: the slow quartile becomes the low one
    assert (rate.median, rate.q1, rate.q3) == pytest.approx((200, 150, 300))
    assert spread.scaled(1e3).columns("ms") == pytest.approx({"ms": 300, "ms_q1": 200, "ms_q3": 400})


def test_tables_show_the_interquartile_range_of_timings_only():
    rows = [dict(section="decode_lm", model=m, batch=1, length=64, ms_per_token=ms, ms_per_token_q1=ms - 1,
                 ms_per_token_q3=ms + 2, state_bytes=b) for m, ms, b in (("transformer", 10.0, 4096.0),
                                                                          ("abc_mlp", 5.0, 1024.0))]
    text = report.markdown(rows, "# header")
    assert "ms/token, median [interquartile range] (ratio to transformer in brackets)" in text
    assert "| 64 | 10.00 [9.00–12.00] | 5.00 [4.00–7.00] (0.50x) |" in text
    assert "| 64 | 4,096 | 1,024 (0.25x) |" in text  # bytes: one value, no spread


def test_quick_benchmark_records_quartiles_and_shows_a_progress_bar(tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    main(["--quick", "--out-dir", str(tmp_path), "--sections", "decode_lm,train_lm", "--models",
          "transformer,memformer", "--threads", "1"])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == 2 * (4 + 2)  # 2 models x (2 batches x 2 prefixes + 2 contexts)
    for row in rows:
        metric = "ms_per_token" if row["section"] == "decode_lm" else "tokens_per_s"
        q1, median, q3 = (float(row[k]) for k in (f"{metric}_q1", metric, f"{metric}_q3"))
        assert 0 < q1 <= median <= q3
    text = open(tmp_path / "results.md").read()
    assert "**train_lm**, batch 1: tokens/s, median [interquartile range] (ratio to transformer" in text
    assert "benchmark: 100%" in terminal.getvalue() and "12/12" in terminal.getvalue()
