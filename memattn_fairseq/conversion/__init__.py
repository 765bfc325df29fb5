"""Softmax transformer checkpoints converted into bounded-memory models: the weights (weights.py), the checkpoint
(checkpoint.py), optional attention transfer (transfer.py) and the command (``python -m memattn_fairseq.conversion``).
"""
