"""The fitting domain's MQTT topics (the contract is docs/mqtt-topics.md)."""

from __future__ import annotations


def call(store: str, room: str) -> str:
    """Calls and every state change of them: edge publishes, guides subscribe (QoS 1)."""
    return f"retail/{store}/fitting/{room}/call"


def room_state(store: str, room: str) -> str:
    """Retained: how many calls the room has active, for handhelds that join late."""
    return f"retail/{store}/fitting/{room}/state"


def claim(store: str, room: str) -> str:
    """Claims and resolves from guide handhelds: guides publish, the edge subscribes (QoS 1)."""
    return f"retail/{store}/fitting/{room}/claim"


def claim_filter(store: str) -> str:
    return f"retail/{store}/fitting/+/claim"


def escalations(store: str) -> str:
    """Escalated calls for the floor manager (and any guide that wants them)."""
    return f"retail/{store}/fitting/escalations"


def room_of_claim_topic(store: str, topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == "retail" and parts[1] == store and parts[2] == "fitting" and parts[4] == "claim":
        return parts[3]
    return None
