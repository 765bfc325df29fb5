"""Registered tasks (imported by fairseq with --user-dir)."""
