"""One-line errors for bad configuration or input.

Every check in the plugin raises :class:`ConfigError` with a message that names the flag or value at fault.
Modules and the math know nothing of flags: they raise :class:`ParameterError`, naming their own parameter, and the
options layer (``options/flags.py``) builds them inside :func:`flags_named`, which names the flag instead.
:func:`install_excepthook` makes an uncaught ``ConfigError`` print as a single ``error:`` line (exit status 2)
instead of a traceback through fairseq's internals; other exceptions are untouched.
"""
import math
import sys
from contextlib import contextmanager
from typing import Dict


class ConfigError(ValueError):
    """A flag, value or input that the plugin cannot work with."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


class ParameterError(ConfigError):
    """A bad value of a module's parameter ``name``; ``template`` holds ``{name}`` where the name goes."""

    def __init__(self, name: str, template: str):
        super().__init__(template.format(name=name))
        self.name, self.template = name, template

    def named(self, names: Dict[str, str]) -> ConfigError:
        return ConfigError(self.template.format(name=names.get(self.name, self.name)))


def check_parameter(condition: bool, name: str, template: str) -> None:
    """``check`` for a module's parameter: ``check_parameter(n >= 1, "num_slots", "{name} must be >= 1")``."""
    if not condition:
        raise ParameterError(name, template)


def check_positive_number(value, name: str) -> None:
    """A parameter that must be a finite number above 0 (an init scale or gain), named as check_parameter names it."""
    check_parameter(isinstance(value, (int, float)) and math.isfinite(value) and value > 0, name,
                    f"{{name}} must be a positive number, got {value}")


@contextmanager
def flags_named(names: Dict[str, str]):
    """Inside, a ParameterError of a parameter in ``names`` (parameter -> flag) becomes a ConfigError naming the flag."""
    try:
        yield
    except ParameterError as error:
        raise error.named(names) from None


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
