"""Registered models. fairseq imports every module here when given ``--user-dir``; so does the package import."""
