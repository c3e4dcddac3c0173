"""fitting: the address a call came from (calls are limited per phone and per address)

Revision ID: 0005b
Revises: 0005
Create Date: 2026-12-03
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005b'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fitting_call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('fitting_call', schema=None) as batch_op:
        batch_op.drop_column('client')
