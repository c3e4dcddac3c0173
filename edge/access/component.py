"""The access domain in the composition root: store-IT users and device tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.access.service import AccessService
from edge.platform.context import Component, Context
from edge.platform.security import Signer

if TYPE_CHECKING:
    from fastapi import APIRouter


class AccessComponent(Component):
    name = "access"

    def __init__(self, ctx: Context) -> None:
        self.service = ctx.keep(AccessService(ctx.store, Signer("session", ctx.secrets.keyring("session"))))
        ctx.services.access = self.service

    def routers(self) -> list[APIRouter]:
        from edge.access.router import router

        return [router]


def build(ctx: Context) -> Component:
    return AccessComponent(ctx)
