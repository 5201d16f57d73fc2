"""Per-component run records in the DataProcessor database (the queryable side of observability)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import sqlalchemy as sa

from dp_resources.database import component_runs, engine_for
from dp_resources.ids import VideoKey


def record_components(
    database_url: str, *, run_id: str, platform_id: str, video_id: str, run_status: str, entries: Iterable[dict[str, Any]]
) -> None:
    """Replace the rows of ``run_id`` with ``entries`` in one transaction (re-recording is idempotent)."""
    now = dt.datetime.now(dt.timezone.utc)
    columns = {c.name for c in component_runs.columns}
    rows = []
    for entry in entries:
        row = {k: v for k, v in entry.items() if k in columns}
        row.update(run_id=run_id, platform_id=platform_id, video_id=video_id, run_status=run_status, recorded_at=now)
        rows.append(row)
    with engine_for(database_url).begin() as conn:
        conn.execute(sa.delete(component_runs).where(component_runs.c.run_id == run_id))
        if rows:
            conn.execute(sa.insert(component_runs), rows)


def component_history(database_url: str, video: VideoKey) -> list[dict[str, Any]]:
    t = component_runs
    with engine_for(database_url).connect() as conn:
        result = conn.execute(
            sa.select(t).where((t.c.platform_id == video.platform_id) & (t.c.video_id == video.video_id)).order_by(t.c.recorded_at)
        )
        return [dict(row._mapping) for row in result]
