"""checkout: scan ids a phone sent (exactly-once adds), why a pass was flagged, exit audit results

Revision ID: 0003h
Revises: 0003g
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0003h"
down_revision = "0003g"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cart_scan",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("scan_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "scan_id"),
    )
    with op.batch_alter_table("exit_pass", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audit_reasons", sa.String(length=200), nullable=False, server_default=""))
    op.create_table(
        "checkout_exit_audit",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=True),
        sa.Column("result", sa.String(length=12), nullable=False),
        sa.Column("missing", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("checkout_exit_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_exit_audit_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("checkout_exit_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkout_exit_audit_member_id"))
    op.drop_table("checkout_exit_audit")
    with op.batch_alter_table("exit_pass", schema=None) as batch_op:
        batch_op.drop_column("audit_reasons")
    op.drop_table("cart_scan")
