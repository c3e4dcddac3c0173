"""checkout: refunds and voids are written pending before the money moves; how a member was attached

Revision ID: 0003b
Revises: 0003
Create Date: 2026-11-22
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003b'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('checkout_refund', schema=None) as batch_op:
        # rows from before this revision were written after the money moved: they are done refunds
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='refund'))
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='done'))
        batch_op.add_column(sa.Column('error_code', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('settled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_checkout_refund_status'), ['status'], unique=False)
    with op.batch_alter_table('kiosk_session', schema=None) as batch_op:
        # older sessions do not say how the member was attached: shown masked
        batch_op.add_column(sa.Column('member_via', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('kiosk_session', schema=None) as batch_op:
        batch_op.drop_column('member_via')
    with op.batch_alter_table('checkout_refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_refund_status'))
        batch_op.drop_column('settled_at')
        batch_op.drop_column('error_code')
        batch_op.drop_column('status')
        batch_op.drop_column('kind')
