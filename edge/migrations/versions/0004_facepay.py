"""facepay: members, encrypted templates, consents, attempts, lockouts, payment authorisations

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0001'
branch_labels = ('facepay',)
depends_on = None

FACE_TABLES = ('face_template', 'face_member', 'face_lockout', 'face_consent', 'face_authorization', 'face_attempt')


def upgrade() -> None:

    op.create_table('face_attempt',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('ts', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kiosk_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=True),
    sa.Column('margin', sa.Float(), nullable=True),
    sa.Column('liveness', sa.Float(), nullable=True),
    sa.Column('detection_score', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('face_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_attempt_kiosk_id'), ['kiosk_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_face_attempt_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_face_attempt_ts'), ['ts'], unique=False)

    op.create_table('face_authorization',
    sa.Column('auth_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kiosk_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('order_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('attempt_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('auth_id')
    )
    with op.batch_alter_table('face_authorization', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_authorization_order_ref'), ['order_ref'], unique=False)

    op.create_table('face_consent',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('consent_version', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kiosk_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('given_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('withdrawn_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('face_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_consent_member_id'), ['member_id'], unique=False)

    op.create_table('face_lockout',
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('subject')
    )
    op.create_table('face_member',
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('phone_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    with op.batch_alter_table('face_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_member_phone_hash'), ['phone_hash'], unique=False)

    op.create_table('face_template',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=False),
    sa.Column('embedder', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('face_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_template_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_face_template_member_id'), ['member_id'], unique=True)




def downgrade() -> None:
    for table in FACE_TABLES:
        op.drop_table(table)
