"""checkout: staff tasks (ID checks, kiosk help, exit rescans) for the handhelds

Revision ID: 0003i
Revises: 0003h
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0003i"
down_revision = "0003h"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkout_staff_task",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("place", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("escalated", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checkout_staff_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_staff_task_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkout_staff_task_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkout_staff_task_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("checkout_staff_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkout_staff_task_state"))
        batch_op.drop_index(batch_op.f("ix_checkout_staff_task_order_id"))
        batch_op.drop_index(batch_op.f("ix_checkout_staff_task_session_id"))
    op.drop_table("checkout_staff_task")
