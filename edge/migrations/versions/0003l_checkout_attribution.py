"""checkout: the guide whose code a cart scanned, the sold lines guides get credit for, erased members

Revision ID: 0003l
Revises: 0003k
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0003l"
down_revision = "0003k"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("kiosk_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guide_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("guide_store", sa.String(length=64), nullable=True))
    op.create_table(
        "checkout_attribution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("style", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("net_minor", sa.Integer(), nullable=False),
        sa.Column("guide_id", sa.String(length=64), nullable=True),
        sa.Column("guide_store", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_checkout_attribution_order_id", "checkout_attribution", ["order_id"], unique=False)
    op.create_index("ix_checkout_attribution_guide_id", "checkout_attribution", ["guide_id"], unique=False)
    op.create_index("ix_checkout_attribution_created_at", "checkout_attribution", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("checkout_attribution")
    with op.batch_alter_table("kiosk_session", schema=None) as batch_op:
        batch_op.drop_column("guide_store")
        batch_op.drop_column("guide_id")
    with op.batch_alter_table("checkout_member", schema=None) as batch_op:
        batch_op.drop_column("erased")
