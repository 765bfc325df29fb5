"""The quality study: variants.py (models, sweeps), budgets.py (sizes), runner.py (one run), report.py (tables,
curves); ``python -m memattn_fairseq.study --help``."""
