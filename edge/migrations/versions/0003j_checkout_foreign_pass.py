"""checkout: the gate box records the single use of exit passes other boxes of the store issued

Revision ID: 0003j
Revises: 0003i
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0003j"
down_revision = "0003i"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkout_foreign_pass",
        sa.Column("pass_id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("box", sa.String(length=40), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pass_id"),
    )


def downgrade() -> None:
    op.drop_table("checkout_foreign_pass")
