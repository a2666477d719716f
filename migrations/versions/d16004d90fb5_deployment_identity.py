"""deployment identity

Revision ID: d16004d90fb5
Revises: b7e1c2d9a4f0
Create Date: 2026-12-03 13:06:00.000000

"""

from alembic import op
import sqlalchemy as sa

import models.base


# revision identifiers, used by Alembic.
revision = "d16004d90fb5"
down_revision = "b7e1c2d9a4f0"
branch_labels = None
depends_on = None


def upgrade():
    # The row itself is written by the first process that needs it (shield/realtime/deployment.py).
    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
    )


def downgrade():
    op.drop_table("deployment")
