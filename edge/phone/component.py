"""The phone domain in the composition root: entry codes, phone cookies, the /go page and API."""

from __future__ import annotations

from fastapi import APIRouter

from edge.phone.codes import EntryCodes, PhoneCookies
from edge.phone.router import router
from edge.phone.service import PhoneService
from edge.platform.context import Component, Context
from edge.platform.security import Signer


class PhoneComponent(Component):
    name = "phone"

    def __init__(self, ctx: Context) -> None:
        s = ctx.settings
        cfg = s.phone
        entry = EntryCodes(Signer("entry_code", ctx.secrets.keyring("entry_code")), s.store.id, s.store.timezone,
                           cfg.entry_grace_h)  # fmt: skip
        cookies = PhoneCookies(Signer("go_session", ctx.secrets.keyring("go_session")), s.store.id, cfg.cookie_ttl_s)
        self.service = ctx.keep(PhoneService(ctx.services, entry, cookies, cfg, s.store.name))
        self.enabled = cfg.enabled

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def routers(self) -> list[APIRouter]:
        return [router] if self.enabled else []


def build(ctx: Context) -> Component:
    return PhoneComponent(ctx)
