"""checkout: members the chain's cloud owns (tier, consent, phone lookup hash) and their wallets

Revision ID: 0003k
Revises: 0003j
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0003k"
down_revision = "0003j"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=8), nullable=False, server_default="store"))
        batch_op.add_column(sa.Column("tier", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("marketing", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("facepay", sa.String(length=8), nullable=False, server_default=""))
        batch_op.create_index("ix_checkout_member_phone_hash", ["phone_hash"], unique=False)
    op.create_table(
        "checkout_wallet_coupon",
        sa.Column("use_key", sa.String(length=120), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("nbf", sa.Integer(), nullable=False),
        sa.Column("exp", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("use_key"),
    )
    op.create_index("ix_checkout_wallet_coupon_member_id", "checkout_wallet_coupon", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_checkout_wallet_coupon_member_id", table_name="checkout_wallet_coupon")
    op.drop_table("checkout_wallet_coupon")
    with op.batch_alter_table("checkout_member", schema=None) as batch_op:
        batch_op.drop_index("ix_checkout_member_phone_hash")
        batch_op.drop_column("facepay")
        batch_op.drop_column("marketing")
        batch_op.drop_column("phone_hash")
        batch_op.drop_column("tier")
        batch_op.drop_column("origin")
