"""Which attention roles a model replaces, and with what."""
from dataclasses import dataclass
from typing import Tuple

from ..errors import check

ROLES = ("encoder", "decoder", "cross")


@dataclass(frozen=True)
class RoleSpec:
    slots: int
    control: str
    flag: str  # flag prefix for error messages, e.g. "--abc-cross"


def parse_roles(value: str, flag: str) -> Tuple[str, ...]:
    roles = tuple(r.strip() for r in str(value).split(",") if r.strip())
    for role in roles:
        check(role in ROLES, f"{flag}: unknown role {role!r}; choose from {', '.join(ROLES)}")
    return roles
