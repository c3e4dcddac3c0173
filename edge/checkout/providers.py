"""The three payment providers: sandbox, the shopper's payment-code QR, and face-pay.

Each checks its credential, then moves money on the payment network through one interface
(`PaymentProvider` in payments.py), with the payment intent id as the idempotency key.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.checkout.contract import CartMembers
from edge.checkout.payments import ChargeState, SandboxNetwork, Simulation
from edge.checkout.rails import Rail, is_payment_code, refuse_simulation
from edge.facepay.contract import FaceAuthorization, FacePayer
from edge.platform.errors import InvalidInput, Unavailable, Unprocessable


class _NetworkProvider:
    """Shared plumbing: a provider checks its credential, then moves money on the network."""

    name = "base"

    def __init__(self, network: SandboxNetwork | None) -> None:
        self.network = network

    def _net(self) -> SandboxNetwork:
        if self.network is None:
            raise Unavailable(
                f"no payment network is configured for {self.name} payments on this box", code="no_acquirer"
            )
        return self.network

    def check_credential(
        self, credential: str | None, *, order_ref: str, amount_minor: int, currency: str, key: str | None = None
    ) -> None:
        """Raise if the shopper's credential does not allow this payment (`key`: the payment's
        idempotency key when it is about to be authorised, None for a check ahead of time)."""

    def authorize(
        self,
        key: str,
        *,
        order_ref: str,
        amount_minor: int,
        currency: str,
        credential: str | None,
        simulation: Simulation | None = None,
    ) -> str:
        net = self._net()
        self.check_credential(credential, order_ref=order_ref, amount_minor=amount_minor, currency=currency, key=key)
        return net.authorize(
            key,
            order_ref=order_ref,
            method=self.name,
            amount_minor=amount_minor,
            currency=currency,
            simulation=simulation,
        )

    def capture(self, key: str) -> None:
        self._net().capture(key)

    def reverse(self, key: str, amount_minor: int | None = None, *, idempotency_key: str | None = None) -> ChargeState:
        return self._net().reverse(key, amount_minor, idempotency_key=idempotency_key)

    def query(self, key: str) -> ChargeState:
        return self._net().query(key)

    def reversal(self, key: str, idempotency_key: str) -> ChargeState | None:
        return self._net().reversal(key, idempotency_key)


class SandboxProvider(_NetworkProvider):
    name = "sandbox"


class QrProvider(_NetworkProvider):
    """The shopper's wallet payment code, scanned by the kiosk camera (or typed by staff)."""

    name = "qr"

    def check_credential(
        self, credential: str | None, *, order_ref: str, amount_minor: int, currency: str, key: str | None = None
    ) -> None:
        if not credential or not is_payment_code(credential):
            raise InvalidInput("scan the 18-digit payment code from your wallet app", code="bad_payment_code")


class FaceProvider(_NetworkProvider):
    """Face-pay: the face-pay service's single-use authorisation, bound to this session, amount and
    the member attached to the cart (a cart holding member A's QR is never paid by B's face).

    The payment's id goes to face-pay with the authorisation it used, so the paying member is on
    record against the payment (face_authorization row + `face.auth_used` audit with payment_id).
    """

    name = "face"

    def __init__(
        self,
        network: SandboxNetwork | None,
        facepay: Callable[[], FacePayer | None],
        carts: CartMembers,
        agreement: Callable[[str], tuple[str, str] | None] = lambda _m: None,
    ) -> None:
        super().__init__(network)
        self.facepay = facepay  # looked up at payment time: start order between domains does not matter
        self.carts = carts
        self.agreement = agreement  # member id -> (rail, agreement id) of their face-pay wallet agreement
        self.rails: set[str] = set()  # the rails face-pay may charge on this box (set by the component)

    def route(self, credential: str | None) -> str | None:
        """The face-on-a-rail provider for the member this authorisation is for, when they have an
        agreement on a rail this box has; None: the sandbox network (or nothing, in production)."""
        facepay = self.facepay()
        member = facepay.authorized_member(credential) if facepay is not None and credential else None
        found = self.agreement(member) if member else None
        return f"face-{found[0]}" if found and found[0] in self.rails else None

    def _consume(
        self, credential: str | None, key: str | None, *, order_ref: str, amount_minor: int, currency: str
    ) -> FaceAuthorization:
        facepay = self.facepay()
        if facepay is None:
            raise Unavailable("face-pay is not available on this box", code="facepay_unavailable")
        if not credential:
            raise InvalidInput("verify your face first, then pay", code="face_authorization_required")
        attached = self.carts.attached_member(order_ref)  # the order reference is the session id
        return facepay.consume_authorization(
            credential,
            order_ref=order_ref,
            amount_minor=amount_minor,
            currency=currency,
            member_id=attached.member_id if attached is not None else None,
            payment_ref=key,
        )

    def check_credential(
        self, credential: str | None, *, order_ref: str, amount_minor: int, currency: str, key: str | None = None
    ) -> None:
        self._consume(credential, key, order_ref=order_ref, amount_minor=amount_minor, currency=currency)


class FaceRailProvider:
    """Face-pay on a real rail: the face authorisation is used as for the sandbox, then the paying
    member's withholding agreement is charged on their wallet (no code; the same outcomes as a
    payment code). Capture, query and refunds are the rail's."""

    def __init__(self, face: FaceProvider, rail: Rail) -> None:
        self.face, self.rail = face, rail
        self.name = f"face-{rail.name}"

    def authorize(
        self,
        key: str,
        *,
        order_ref: str,
        amount_minor: int,
        currency: str,
        credential: str | None,
        simulation: Simulation | None = None,
    ) -> str:
        refuse_simulation(simulation)
        auth = self.face._consume(credential, key, order_ref=order_ref, amount_minor=amount_minor, currency=currency)
        found = self.face.agreement(auth.member_id)
        if found is None or found[0] != self.rail.name:  # revoked between the route and now
            raise Unprocessable("this member has no wallet agreement for face-pay", code="no_pay_agreement")
        return self.rail.withhold(
            key, amount_minor=amount_minor, currency=currency, agreement=found[1], order_ref=order_ref
        )

    def capture(self, key: str) -> None:
        self.rail.capture(key)

    def reverse(self, key: str, amount_minor: int | None = None, *, idempotency_key: str | None = None) -> ChargeState:
        return self.rail.reverse(key, amount_minor, idempotency_key=idempotency_key)

    def query(self, key: str) -> ChargeState:
        return self.rail.query(key)

    def reversal(self, key: str, idempotency_key: str) -> ChargeState | None:
        return self.rail.reversal(key, idempotency_key)
