"""Which provider moves a payment: the kiosk names a way to pay (sandbox, qr, face); the box picks
the network. A wallet code goes to its rail by prefix and a face to the paying member's wallet
agreement, before anything is written or sent, so a code or member this store cannot serve is
refused with a reason and no network ever sees it."""

from __future__ import annotations

from edge.checkout.payments import PaymentProvider
from edge.checkout.providers import FaceProvider
from edge.checkout.rails import RAIL_LABELS, rail_for_code
from edge.checkout.settings import CheckoutSettings
from edge.platform.errors import InvalidInput, Unavailable, Unprocessable


def choose_provider(
    settings: CheckoutSettings, providers: dict[str, PaymentProvider], name: str, credential: str | None
) -> PaymentProvider:
    if name == "sandbox" and settings.mode == "production":
        raise Unavailable("the sandbox payment simulator is refused in production mode", code="sandbox_refused")
    if name == "face":  # the paying member's wallet agreement, when they have one on a rail here
        face = providers.get("face")
        routed = face.route(credential) if isinstance(face, FaceProvider) else None
        if routed is not None:
            name = routed
        elif settings.mode == "production":
            raise Unprocessable(
                "face-pay charges a member's wallet agreement and this member has none here; "
                "please pay with a payment code",
                code="no_pay_agreement",
            )
    if name == "qr" and settings.qr_acquirer == "rails":
        name = rail_for_code(credential)
        if name not in providers:
            raise Unprocessable(
                f"this store does not take {RAIL_LABELS[name]} payment codes; please pay another way",
                code="rail_not_configured",
            )
    p = providers.get(name)
    if p is None:
        raise InvalidInput(f"unknown payment provider {name!r}", code="unknown_provider")
    return p
