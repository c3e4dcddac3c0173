"""checkout: a cart line keeps its pack's use-by date (GS1 AI 17), which prices its markdown

Revision ID: 0003d
Revises: 0003c
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0003d"
down_revision = "0003c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cart_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cart_line", schema=None) as batch_op:
        batch_op.drop_column("expires_on")
