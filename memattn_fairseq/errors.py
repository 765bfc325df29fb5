"""One-line errors for bad configuration or input.

Every check in the plugin raises :class:`ConfigError` with a message that names the flag or value at fault.
:func:`install_excepthook` makes an uncaught ``ConfigError`` print as a single ``error:`` line (exit status 2)
instead of a traceback through fairseq's internals; other exceptions are untouched.
"""
import sys


class ConfigError(ValueError):
    """A flag, value or input that the plugin cannot work with."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def root_config_error(exc: BaseException):
    """The ConfigError behind ``exc`` (fairseq and Hydra sometimes wrap exceptions), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ConfigError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def exit_with(error: ConfigError) -> None:
    """Print ``error`` as the one ``error:`` line and exit with status 2."""
    # sys.__stderr__: torch.distributed's own excepthook captures sys.stderr and drops it on SystemExit
    print(f"memattn_fairseq: error: {error}", file=sys.__stderr__, flush=True)
    sys.exit(2)


def install_excepthook() -> None:
    previous = sys.excepthook
    if getattr(previous, "_memattn", False):
        return

    def hook(exc_type, exc, tb):
        error = root_config_error(exc)
        if error is None:
            return previous(exc_type, exc, tb)
        exit_with(error)

    hook._memattn = True
    sys.excepthook = hook
