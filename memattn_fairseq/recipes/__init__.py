"""Recipe tools for reproducing the papers: data preparation, launching, checkpoint averaging, scoring, tables.

Run them as ``python -m memattn_fairseq.recipes.<tool>``; the shell scripts in ``scripts/`` wrap them.
"""
