"""fitting: visits, items, guide calls, inbound claim dedupe

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0005"
down_revision = "0001"
branch_labels = ("fitting",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fitting_inbound",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("fitting_inbound", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fitting_inbound_received_at"), ["received_at"], unique=False)

    op.create_table(
        "fitting_visit",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_activity_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fitting_visit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fitting_visit_ended_at"), ["ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_fitting_visit_room_id"), ["room_id"], unique=False)
        batch_op.create_index(
            "uq_fitting_visit_open_room", ["room_id"], unique=True, sqlite_where=sa.text("ended_at IS NULL")
        )

    op.create_table(
        "fitting_call",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("zone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("visit_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("gtin", sqlmodel.sql.sqltypes.AutoString(length=14), nullable=True),
        sa.Column("want_gtin", sqlmodel.sql.sqltypes.AutoString(length=14), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("merge_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("phone_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("merged_count", sa.Integer(), nullable=False),
        sa.Column("guide_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("escalated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["fitting_visit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id", "request_id", name="uq_fitting_call_request"),
    )
    with op.batch_alter_table("fitting_call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fitting_call_guide_id"), ["guide_id"], unique=False)
        batch_op.create_index("ix_fitting_call_room_state", ["room_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_fitting_call_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_fitting_call_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "fitting_item",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("visit_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("gtin", sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("added_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["fitting_visit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("visit_id", "gtin", name="uq_fitting_item_visit_gtin"),
    )
    with op.batch_alter_table("fitting_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fitting_item_visit_id"), ["visit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fitting_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fitting_item_visit_id"))

    op.drop_table("fitting_item")
    with op.batch_alter_table("fitting_call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fitting_call_visit_id"))
        batch_op.drop_index(batch_op.f("ix_fitting_call_state"))
        batch_op.drop_index("ix_fitting_call_room_state")
        batch_op.drop_index(batch_op.f("ix_fitting_call_guide_id"))

    op.drop_table("fitting_call")
    with op.batch_alter_table("fitting_visit", schema=None) as batch_op:
        batch_op.drop_index("uq_fitting_visit_open_room")
        batch_op.drop_index(batch_op.f("ix_fitting_visit_room_id"))
        batch_op.drop_index(batch_op.f("ix_fitting_visit_ended_at"))

    op.drop_table("fitting_visit")
    with op.batch_alter_table("fitting_inbound", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fitting_inbound_received_at"))

    op.drop_table("fitting_inbound")
