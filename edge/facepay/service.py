"""Wiring of the face-pay services, shared by the daemon component and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.facepay.enrolment import EnrolmentService
from edge.facepay.runtime import FaceRuntime
from edge.facepay.settings import FacepaySettings
from edge.facepay.verification import VerificationService
from edge.platform.security import Sealer, SecretStore
from edge.platform.store import Store

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
) -> FaceServices:
    """Templates are sealed under the `templates` key ring (`retail-edge keys rotate templates`)."""
    runtime = FaceRuntime(cfg, model_dir)
    sealer = Sealer(secrets.keyring(TEMPLATE_KEY_PURPOSE))
    pepper = secrets.get_or_create(PHONE_PEPPER).encode()
    enrolment = EnrolmentService(store, runtime, sealer, pepper)
    verification = VerificationService(store, runtime, enrolment, cameras, secrets)
    return FaceServices(runtime, enrolment, verification)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))
