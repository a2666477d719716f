"""event_retention: the highest seq retention may have deleted (the feed's reset, not min(seq))

Revision ID: c4d8e2f1a7b3
Revises: d16004d90fb5
Create Date: 2026-12-03 14:10:00

"""

from alembic import op
import sqlalchemy as sa


revision = "c4d8e2f1a7b3"
down_revision = "d16004d90fb5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "event_retention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_retention")),
    )
    # What retention already deleted: everything below the oldest event kept, or, with none
    # kept, everything committed.
    op.execute(
        "INSERT INTO event_retention (id, pruned_through) SELECT 1, COALESCE("
        "(SELECT min(seq) - 1 FROM outbox_events), "
        "(SELECT value FROM event_sequence WHERE id = 1), 0)"
    )


def downgrade():
    op.drop_table("event_retention")
