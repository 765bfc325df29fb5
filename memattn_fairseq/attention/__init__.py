"""The attention math in plain PyTorch, free of fairseq: efficient forms and their references."""
