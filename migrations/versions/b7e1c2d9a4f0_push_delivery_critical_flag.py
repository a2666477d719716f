"""push deliveries carry their event's critical flag; the due index leads with it

Revision ID: b7e1c2d9a4f0
Revises: 4202fdf79c3b
Create Date: 2026-12-03 13:20:00

"""

from alembic import op
import sqlalchemy as sa


revision = "b7e1c2d9a4f0"
down_revision = "4202fdf79c3b"
branch_labels = None
depends_on = None

# The critical events when this migration was written (shield/events/catalog.py).
CRITICAL = ("claim_approved", "claim_denied", "payout_completed", "proof_of_payment_requested")


def upgrade():
    with op.batch_alter_table("push_deliveries") as batch:
        batch.add_column(
            sa.Column("critical", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.drop_index("ix_push_deliveries_due")
        batch.create_index(
            "ix_push_deliveries_due", ["status", "critical", "next_attempt_at"], unique=False
        )
    names = ", ".join(f"'{name}'" for name in CRITICAL)
    op.execute(
        "UPDATE push_deliveries SET critical = true WHERE status = 'pending' AND event_id IN "
        f"(SELECT id FROM outbox_events WHERE name IN ({names}))"
    )


def downgrade():
    with op.batch_alter_table("push_deliveries") as batch:
        batch.drop_index("ix_push_deliveries_due")
        batch.create_index("ix_push_deliveries_due", ["status", "next_attempt_at"], unique=False)
        batch.drop_column("critical")
