"""sync: outbox seq never reused (AUTOINCREMENT), so deleting the newest row keeps the order promise

Without AUTOINCREMENT SQLite hands out max(rowid)+1, so quarantining or pruning the newest row
lets the next event reuse its seq and arrive at the cloud as if it came earlier.

Revision ID: 0006b
Revises: 0006
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = '0006b'
down_revision = '0006'
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    # The partial index is dropped and made again around the copy: batch mode's reflection may
    # not carry its WHERE clause over.
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')
    with op.batch_alter_table(
        'outbox_event', recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}
    ) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['seq'], unique=False, sqlite_where=sa.text('sent_at IS NULL'))


def upgrade() -> None:
    _rebuild(True)
    # Never hand out a seq already used: not by a live row, nor by one in quarantine.
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox_event'")
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_event', max(m) FROM ("
        "SELECT coalesce(max(seq), 0) AS m FROM outbox_event "
        "UNION ALL SELECT coalesce(max(seq), 0) FROM sync_quarantine)"
    )


def downgrade() -> None:
    _rebuild(False)
