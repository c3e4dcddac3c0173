"""checkout: the recall list from the cloud (GTIN + lot or date range), and its version

Revision ID: 0003e
Revises: 0003d
Create Date: 2026-12-03
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003e"
down_revision = "0003d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("checkout_recall",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("recall_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
                    sa.Column("gtin", sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
                    sa.Column("lot", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
                    sa.Column("date_from", sa.Date(), nullable=True),
                    sa.Column("date_to", sa.Date(), nullable=True),
                    sa.Column("refuse_unmarked", sa.Boolean(), nullable=False),
                    sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
                    sa.PrimaryKeyConstraint("id"))
    with op.batch_alter_table("checkout_recall", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_recall_gtin"), ["gtin"], unique=False)
    op.create_table("checkout_recall_list",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("version", sa.Integer(), nullable=False),
                    sa.Column("entries", sa.Integer(), nullable=False),
                    sa.Column("applied_at", sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint("id"))


def downgrade() -> None:
    op.drop_table("checkout_recall_list")
    with op.batch_alter_table("checkout_recall", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkout_recall_gtin"))
    op.drop_table("checkout_recall")
