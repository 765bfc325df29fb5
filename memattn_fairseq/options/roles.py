"""Which attention roles a model replaces, and with what.

Every translation family (``--abc-roles``, ``--memsizer-roles``) reads its roles through :func:`transformer_roles`,
so fairseq's options that change those roles mean the same everywhere:

- no role at all (``--abc-roles ""``) is an error: the model would be fairseq's softmax transformer;
- ``--no-cross-attention`` removes cross-attention, so a list naming ``cross`` (the default lists do) is an error;
- ``--cross-self-attention`` makes decoder self-attention also attend to the source, which a causal bounded memory
  cannot, so a list naming ``decoder`` is an error (the softmax decoder of a list without it supports it).
"""
from dataclasses import dataclass
from typing import Tuple

from ..errors import check
from ..modules.bounded_attention import ROLES


@dataclass(frozen=True)
class RoleSpec:
    slots: int
    control: str


def parse_roles(value: str, flag: str) -> Tuple[str, ...]:
    roles = tuple(r.strip() for r in str(value).split(",") if r.strip())
    for role in roles:
        check(role in ROLES, f"{flag}: unknown role {role!r}; choose from {', '.join(ROLES)}")
    return roles


def transformer_roles(value: str, flag: str, args) -> Tuple[str, ...]:
    """The roles of ``value`` (the option ``flag``), checked against fairseq's options in ``args``."""
    roles = parse_roles(value, flag)
    check(roles, f"{flag}={value!r} names no role; choose from {', '.join(ROLES)} (fairseq's transformer is the "
                 "all-softmax model)")
    check("cross" not in roles or not getattr(args, "no_cross_attention", False),
          f"--no-cross-attention removes cross-attention, but {flag}={value} includes cross; leave it out of {flag}")
    check("decoder" not in roles or not getattr(args, "cross_self_attention", False),
          f"--cross-self-attention needs softmax decoder self-attention, but {flag}={value} includes decoder; "
          f"leave it out of {flag}")
    return roles
