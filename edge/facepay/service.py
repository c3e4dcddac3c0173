"""Wiring of the face-pay services, shared by the daemon component and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.checkout.contract import CartMembers
from edge.facepay.enrolment import EnrolmentService
from edge.facepay.runtime import FaceRuntime
from edge.facepay.settings import FacepaySettings
from edge.facepay.verification import VerificationService
from edge.platform.security import Sealer, SecretStore
from edge.platform.store import Store
from edge.sync.contract import VersionRefused

TEMPLATE_KEY_PURPOSE = "templates"  # the name `retail-edge keys rotate` documents
PHONE_PEPPER = "face_phone_pepper"


@dataclass
class FaceServices:
    runtime: FaceRuntime
    enrolment: EnrolmentService
    verification: VerificationService


def build_services(
    cfg: FacepaySettings,
    model_dir: Path,
    store: Store,
    secrets: SecretStore,
    cameras: Callable[[], Any] = lambda: None,
    carts: Callable[[], CartMembers | None] = lambda: None,
) -> FaceServices:
    """Templates are sealed under the `templates` key ring (`retail-edge keys rotate templates`)."""
    runtime = FaceRuntime(cfg, model_dir)
    sealer = Sealer(secrets.keyring(TEMPLATE_KEY_PURPOSE))
    pepper = secrets.get_or_create(PHONE_PEPPER).encode()
    enrolment = EnrolmentService(store, runtime, sealer, pepper)
    verification = VerificationService(store, runtime, enrolment, cameras, secrets, carts)
    return FaceServices(runtime, enrolment, verification)


class FaceBackOffice:
    """Implements the FaceAdmin contract: erasures (also as the down-sync applier for the cloud's
    `member_erasure` versions) and the model status the dashboard shows."""

    def __init__(self, enrolment: EnrolmentService, status: Callable[[], dict[str, Any]]) -> None:
        self.enrolment = enrolment
        self._status = status

    def erase_all(self, requests: list[tuple[str, str]], actor: str) -> list[str]:
        return self.enrolment.erase_all(requests, actor)

    def models_status(self) -> dict[str, Any]:
        return self._status()

    def apply_erasures(self, version: int, items: list[Any]) -> None:
        """A cloud erasure version, whole or not at all: templates, phone hash and consent, in one
        transaction; a crash or an error part way erases none of it and it is applied again."""
        requests: list[tuple[str, str]] = []
        for item in items:
            member_id = str(item.get("member_id", "")) if isinstance(item, dict) else ""
            if not member_id:
                raise VersionRefused("an erasure needs a member_id")
            requests.append((member_id, str(item.get("reason", "cloud_erasure"))[:64]))
        self.enrolment.erase_all(requests, actor="cloud:downsync")  # members never enrolled here are skipped


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))
