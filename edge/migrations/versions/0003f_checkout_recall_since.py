"""checkout: when each recall entry first applied here, so payment re-checks only newer ones

Revision ID: 0003f
Revises: 0003e
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0003f"
down_revision = "0003e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_recall", schema=None) as batch_op:
        batch_op.add_column(sa.Column("since", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()))


def downgrade() -> None:
    with op.batch_alter_table("checkout_recall", schema=None) as batch_op:
        batch_op.drop_column("since")
