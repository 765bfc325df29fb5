"""Data helpers: the embedded quickstart corpus."""
