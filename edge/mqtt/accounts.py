"""The store broker's accounts: one Mosquitto user per device, and an ACL made from their roles.

Guides used to share one broker password, any gate could read every gate's commands, and any
account could connect with the edge's client id and knock it off the broker. Now each handheld
and gate logs in as its own device id with its device token as the password, the broker binds
client ids to usernames (`use_username_as_clientid true` in systemd/mosquitto/mosquitto.conf),
and a gate reads only the commands addressed to it. `retail-edge mqtt accounts` writes both
files from the device registry (docs/mqtt-topics.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.platform.files import write_atomic

EDGE_RULES = ["topic readwrite retail/#"]
_GUIDE = [
    "topic read retail/+/fitting/+/call",
    "topic read retail/+/fitting/+/state",
    "topic read retail/+/staff/task",
    "topic read retail/+/edge/+/available",
    "topic write retail/+/fitting/+/claim",
]
# a guide who also hears escalations and may take over a colleague's call
_SUPERVISOR = [*_GUIDE, "topic read retail/+/fitting/escalations", "topic read retail/+/staff/escalation"]
ROLE_RULES = {
    "guide": _GUIDE,
    "supervisor": _SUPERVISOR,
    # the supervisor's topics and the kiosks' alerts (recalled or expired packs)
    "manager": [*_SUPERVISOR, "topic read retail/+/checkout/+/alert"],
    # {id}: a gate reads the commands addressed to it alone, and reports its own state
    "gate": [
        "topic read retail/+/gate/{id}/cmd",
        "topic read retail/+/edge/+/available",
        "topic write retail/+/gate/{id}/state",
    ],
}


@dataclass(frozen=True)
class Account:
    username: str  # a device id (or the edge's own username)
    role: str  # edge | guide | supervisor | manager | gate
    password_hash: str  # Mosquitto $7$ hash


def acl_text(accounts: Iterable[Account]) -> str:
    lines = ["# retail-edge store broker ACL, written by `retail-edge mqtt accounts`; do not edit by hand.", ""]
    for acc in accounts:
        rules = EDGE_RULES if acc.role == "edge" else ROLE_RULES.get(acc.role)
        if rules is None:
            continue  # kiosks use HTTP only: no broker account
        lines += [f"user {acc.username}", *(r.format(id=acc.username) for r in rules), ""]
    return "\n".join(lines)


def write_files(accounts: list[Account], passwd: Path, acl: Path) -> int:
    """Write both files atomically (0640: readable by the broker's group); returns the accounts."""
    kept = [a for a in accounts if a.role == "edge" or a.role in ROLE_RULES]
    write_atomic(passwd, "".join(f"{a.username}:{a.password_hash}\n" for a in kept).encode(), 0o640)
    write_atomic(acl, acl_text(kept).encode(), 0o640)
    return len(kept)
