"""The ingest ledger: what the bucket sensor last saw and decided for each object, in the
DataProcessor database. Not in the cursor, which Dagster copies into every tick row and which would
grow with the bucket; the cursor holds only the number of the last stored tick (``BucketTick._replay``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import lru_cache

import sqlalchemy as sa

from dp_resources.database import engine_for

PENDING, REQUESTED, REJECTED = "pending", "requested", "rejected"

ledger_metadata = sa.MetaData()

ingest_objects = sa.Table(
    "dp_ingest_objects",
    ledger_metadata,
    sa.Column("bucket", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),  # S3 keys reach 1,024 bytes, escaped names more
    sa.Column("identity", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # tick that first saw this identity: the object is stable once a later tick sees it unchanged
    sa.Column("seen_seq", sa.BigInteger, nullable=False),
    sa.Column("decided_seq", sa.BigInteger),
    sa.Column("platform_id", sa.String(128)),
    sa.Column("video_id", sa.String(128)),
    sa.Column("run_key", sa.String(300)),
    sa.Column("reason", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

_LEDGER_SCHEMA_LOCK_ID = 0x6470_696E_6765_7374  # "dpingest"
# Columns that mirror LedgerRow (after its key); updated_at is stamped on commit.
_FIELDS = ("identity", "state", "seen_seq", "decided_seq", "platform_id", "video_id", "run_key", "reason")


@dataclass(frozen=True)
class LedgerRow:
    key: str
    identity: str
    state: str
    seen_seq: int
    decided_seq: int | None = None
    platform_id: str | None = None
    video_id: str | None = None
    run_key: str | None = None
    reason: str | None = None


@lru_cache(maxsize=16)
def _engine(url: str) -> sa.Engine:
    engine = engine_for(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Two processes creating the table at once collide in the catalog: serialise.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LEDGER_SCHEMA_LOCK_ID})
        ledger_metadata.create_all(conn)
    return engine


class IngestLedger:
    """Rows of one bucket: ``load`` once per tick, stage changes, ``commit`` in one transaction."""

    def __init__(self, database_url: str, bucket: str):
        self.engine = _engine(database_url)
        self.bucket = bucket
        self.rows: dict[str, LedgerRow] = {}
        self._stored: set[str] = set()
        self._staged: dict[str, LedgerRow] = {}
        self._forgotten: set[str] = set()

    def load(self) -> dict[str, LedgerRow]:
        with self.engine.connect() as conn:
            result = conn.execute(sa.select(ingest_objects).where(ingest_objects.c.bucket == self.bucket))
            self.rows = {r.key: LedgerRow(r.key, *(getattr(r, c) for c in _FIELDS)) for r in result}
        self._stored = set(self.rows)
        return self.rows

    def stage(self, row: LedgerRow) -> None:
        self.rows[row.key] = row
        self._staged[row.key] = row
        self._forgotten.discard(row.key)

    def update(self, key: str, **changes) -> None:
        self.stage(replace(self.rows[key], **changes))

    def forget(self, key: str) -> None:
        self.rows.pop(key, None)
        self._staged.pop(key, None)
        if key in self._stored:
            self._forgotten.add(key)

    def commit(self) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        t = ingest_objects

        def values(row: LedgerRow) -> dict:
            return {**{c: getattr(row, c) for c in _FIELDS}, "updated_at": now}

        inserts = [{"bucket": self.bucket, "key": k, **values(r)} for k, r in self._staged.items() if k not in self._stored]
        updates = [{"b_key": k, **{f"v_{c}": v for c, v in values(r).items()}} for k, r in self._staged.items() if k in self._stored]
        with self.engine.begin() as conn:
            if inserts:
                conn.execute(sa.insert(t), inserts)
            if updates:
                conn.execute(
                    sa.update(t)
                    .where((t.c.bucket == self.bucket) & (t.c.key == sa.bindparam("b_key")))
                    .values({c: sa.bindparam(f"v_{c}") for c in (*_FIELDS, "updated_at")}),
                    updates,
                )
            if self._forgotten:
                conn.execute(
                    sa.delete(t).where((t.c.bucket == self.bucket) & (t.c.key == sa.bindparam("b_key"))),
                    [{"b_key": k} for k in self._forgotten],
                )
        self._stored = (self._stored | set(self._staged)) - self._forgotten
        self._staged, self._forgotten = {}, set()
