"""checkout: catalog, promotions, members, kiosk sessions and carts, payments, orders, passes

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0001'
branch_labels = ('checkout',)
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_product',
    sa.Column('gtin', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('price_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('member_price_minor', sa.Integer(), nullable=True),
    sa.Column('tax_class', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('style', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('colour', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=False),
    sa.Column('weighed', sa.Boolean(), nullable=False),
    sa.Column('age_restricted', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('gtin')
    )
    with op.batch_alter_table('catalog_product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_product_style'), ['style'], unique=False)

    op.create_table('catalog_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('applied_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('products', sa.Integer(), nullable=False),
    sa.Column('promotions', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('checkout_member',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('checkout_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_member_phone'), ['phone'], unique=True)

    op.create_table('checkout_order',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('kiosk_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('subtotal_minor', sa.Integer(), nullable=False),
    sa.Column('discount_minor', sa.Integer(), nullable=False),
    sa.Column('tax_minor', sa.Integer(), nullable=False),
    sa.Column('total_minor', sa.Integer(), nullable=False),
    sa.Column('refunded_minor', sa.Integer(), nullable=False),
    sa.Column('pricing', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id')
    )
    with op.batch_alter_table('checkout_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_order_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_checkout_order_status'), ['status'], unique=False)

    op.create_table('checkout_promotion',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('starts_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('ends_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('checkout_refund',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Text(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('checkout_refund', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_refund_order_id'), ['order_id'], unique=False)

    op.create_table('coupon_redemption',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('coupon_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('use_key', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('use_key')
    )
    with op.batch_alter_table('coupon_redemption', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_redemption_coupon_id'), ['coupon_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_redemption_order_id'), ['order_id'], unique=False)

    op.create_table('exit_pass',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('audit_flag', sa.Boolean(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('gate_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('exit_pass', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exit_pass_order_id'), ['order_id'], unique=False)

    op.create_table('kiosk_session',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('kiosk_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('coupons', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('age_checked_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kiosk_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kiosk_session_kiosk_id'), ['kiosk_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kiosk_session_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_kiosk_session_updated_at'), ['updated_at'], unique=False)

    op.create_table('payment_intent',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('client_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('provider_ref', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('error_code', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('captured_minor', sa.Integer(), nullable=False),
    sa.Column('refunded_minor', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payment_intent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_intent_client_key'), ['client_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_intent_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_intent_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_intent_status'), ['status'], unique=False)

    op.create_table('cart_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
    sa.Column('gtin', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('measure_kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('measure_value', sa.Integer(), nullable=False),
    sa.Column('added_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['kiosk_session.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'code', name='uq_cart_line_code')
    )
    with op.batch_alter_table('cart_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_line_session_id'), ['session_id'], unique=False)

    op.create_table('checkout_order_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('gtin', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('gross_minor', sa.Integer(), nullable=False),
    sa.Column('discount_minor', sa.Integer(), nullable=False),
    sa.Column('net_minor', sa.Integer(), nullable=False),
    sa.Column('tax_minor', sa.Integer(), nullable=False),
    sa.Column('refunded_qty', sa.Integer(), nullable=False),
    sa.Column('refunded_minor', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['checkout_order.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('checkout_order_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_order_line_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('checkout_order_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_order_line_order_id'))

    op.drop_table('checkout_order_line')
    with op.batch_alter_table('cart_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_line_session_id'))

    op.drop_table('cart_line')
    with op.batch_alter_table('payment_intent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_intent_status'))
        batch_op.drop_index(batch_op.f('ix_payment_intent_session_id'))
        batch_op.drop_index(batch_op.f('ix_payment_intent_order_id'))
        batch_op.drop_index(batch_op.f('ix_payment_intent_client_key'))

    op.drop_table('payment_intent')
    with op.batch_alter_table('kiosk_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kiosk_session_updated_at'))
        batch_op.drop_index(batch_op.f('ix_kiosk_session_status'))
        batch_op.drop_index(batch_op.f('ix_kiosk_session_kiosk_id'))

    op.drop_table('kiosk_session')
    with op.batch_alter_table('exit_pass', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exit_pass_order_id'))

    op.drop_table('exit_pass')
    with op.batch_alter_table('coupon_redemption', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_redemption_order_id'))
        batch_op.drop_index(batch_op.f('ix_coupon_redemption_coupon_id'))

    op.drop_table('coupon_redemption')
    with op.batch_alter_table('checkout_refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_refund_order_id'))

    op.drop_table('checkout_refund')
    op.drop_table('checkout_promotion')
    with op.batch_alter_table('checkout_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_order_status'))
        batch_op.drop_index(batch_op.f('ix_checkout_order_created_at'))

    op.drop_table('checkout_order')
    with op.batch_alter_table('checkout_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_member_phone'))

    op.drop_table('checkout_member')
    op.drop_table('catalog_state')
    with op.batch_alter_table('catalog_product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_product_style'))

    op.drop_table('catalog_product')
