"""checkout: a member's face-pay withholding agreement with one wallet (rail + agreement id)

Revision ID: 0003g
Revises: 0003f
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0003g"
down_revision = "0003f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pay_rail", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("pay_agreement", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("checkout_member", schema=None) as batch_op:
        batch_op.drop_column("pay_agreement")
        batch_op.drop_column("pay_rail")
