"""wallet transactions carry a per-wallet seq (the statement order); wallets their last one

Existing rows get their seq from the balances they carry: each row's balance before it is
its balance_after minus its amount, so the wallet's true order is a path through every row
from a balance of 0 (an Eulerian path, taken in created_at order wherever there is a
choice). Rows that fit no such path (a ledger edited by hand) follow in created_at order.

Revision ID: c5a1f7d3e9b2
Revises: c4d8e2f1a7b3
Create Date: 2026-12-03 14:00:00

"""

from collections import defaultdict, deque

from alembic import op
import sqlalchemy as sa


revision = "c5a1f7d3e9b2"
down_revision = "c4d8e2f1a7b3"
branch_labels = None
depends_on = None

TRANSACTIONS = sa.table(
    "wallet_transactions",
    sa.column("id", sa.String),
    sa.column("member_id", sa.String),
    sa.column("amount_cents", sa.Integer),
    sa.column("balance_after_cents", sa.Integer),
    sa.column("created_at"),
    sa.column("seq", sa.Integer),
)
WALLETS = sa.table("wallets", sa.column("member_id", sa.String), sa.column("last_seq", sa.Integer))


def statement_order(rows) -> list:
    """Order (id, amount_cents, balance_after_cents) rows, given oldest first, so that each
    row's balance before it is the balance after the row before it, starting from 0."""
    if not rows:
        return []
    leaving = defaultdict(deque)  # balance before -> indexes of the rows starting there
    surplus = defaultdict(int)  # rows leaving a balance minus rows reaching it
    for index, row in enumerate(rows):
        before = row.balance_after_cents - row.amount_cents
        leaving[before].append(index)
        surplus[before] += 1
        surplus[row.balance_after_cents] -= 1
    # A wallet starts at 0; a path that ends where it began starts at the oldest row.
    starts = [balance for balance, n in surplus.items() if n == 1]
    start = (
        0
        if 0 in starts
        else (starts[0] if starts else rows[0].balance_after_cents - rows[0].amount_cents)
    )
    # Hierholzer's algorithm: follow the oldest unused row out of the current balance; a
    # dead end is spliced in where it was reached.
    path, stack = [], [(start, None)]
    while stack:
        balance, index = stack[-1]
        if leaving[balance]:
            taken = leaving[balance].popleft()
            stack.append((rows[taken].balance_after_cents, taken))
        else:
            stack.pop()
            if index is not None:
                path.append(index)
    path.reverse()
    placed = set(path)
    return [rows[i].id for i in path] + [r.id for i, r in enumerate(rows) if i not in placed]


def _backfill() -> None:
    bind = op.get_bind()
    t = TRANSACTIONS.c
    members = bind.execute(sa.select(t.member_id).distinct()).scalars().all()
    for member_id in members:
        rows = bind.execute(
            sa.select(t.id, t.amount_cents, t.balance_after_cents)
            .where(t.member_id == member_id)
            .order_by(t.created_at, t.id)
        ).all()
        bind.execute(
            TRANSACTIONS.update()
            .where(t.id == sa.bindparam("txn_id"))
            .values(seq=sa.bindparam("position")),
            [
                {"txn_id": txn_id, "position": position}
                for position, txn_id in enumerate(statement_order(rows), start=1)
            ],
        )
        bind.execute(
            WALLETS.update().where(WALLETS.c.member_id == member_id).values(last_seq=len(rows))
        )


def upgrade():
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("wallet_transactions") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
    _backfill()
    with op.batch_alter_table("wallet_transactions") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint(
            batch.f("uq_wallet_transactions_member_id_seq"), ["member_id", "seq"]
        )


def downgrade():
    with op.batch_alter_table("wallet_transactions") as batch:
        batch.drop_constraint(batch.f("uq_wallet_transactions_member_id_seq"), type_="unique")
        batch.drop_column("seq")
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("last_seq")
