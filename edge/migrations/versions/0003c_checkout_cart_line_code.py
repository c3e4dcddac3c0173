"""checkout: a cart line's code may carry the value an AI gave it (DataBar Expanded weight or price)

Revision ID: 0003c
Revises: 0003b
Create Date: 2026-12-03
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003c"
down_revision = "0003b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cart_line", schema=None) as batch_op:
        batch_op.alter_column("code", existing_type=sqlmodel.sql.sqltypes.AutoString(length=14),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=32), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("cart_line", schema=None) as batch_op:
        batch_op.alter_column("code", existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=14), existing_nullable=False)
