"""access: each handheld and gate logs in to the store broker with its own account

Revision ID: 0007b
Revises: 0007
Create Date: 2026-12-03
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007b"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        # Mosquitto's PBKDF2 hash of the device token (its broker password); "" for older devices,
        # which get no broker account until they are added again.
        batch_op.add_column(sa.Column("mqtt_hash", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_column("mqtt_hash")
