"""Wrapping a fairseq function in place, once: the plugin's import may run again (``--user-dir`` and a direct
import), and a second wrapper would run every adjustment twice."""
import functools


def wrap_once(owner, name: str, marker: str):
    """Decorator for ``make(original) -> wrapper``: sets ``owner.<name>`` to the wrapper of the current function,
    unless a wrapper carrying ``marker`` is there already. Several wrappers of one function stack, each once."""

    def install(make):
        original = getattr(owner, name)
        if getattr(original, marker, False):
            return make
        wrapper = functools.wraps(original)(make(original))
        setattr(wrapper, marker, True)
        setattr(owner, name, wrapper)
        return make

    return install
