"""Speed and memory of the plugin's models beside fairseq's transformer, measured in one run.

    python -m memattn_fairseq.benchmark --device cpu --out-dir runs/benchmark

See ``python -m memattn_fairseq.benchmark --help``; results go to CSV, a markdown table and PNG plots.
"""
