"""Writing the training dataset: one Parquet dataset of every video processed with a profile.

Which videos: those whose latest successful run (the artifact index) is at the profile's current
versions, optionally finished since a date; a video whose stored artifacts no longer verify is
left out and reported, never half-exported. Layout, readable by ``pyarrow.dataset``, DuckDB and
Polars with hive partitioning::

    OUT/_dp_export.json                                  what was exported, from which profile
    OUT/features/platform_id=<platform>/part-0.parquet   one row per (platform, video)
    OUT/<table>/platform_id=<platform>/part-0.parquet    per-frame / per-segment rows, on request

The dataset is built in a hidden sibling folder and swapped in with one rename (an atomic
exchange where an earlier export is replaced), so a reader sees the old export or the new one,
never a half-written one. An export with no videos still has every table with its full schema.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dp_assets.profiles import Profile
from dp_assets.versioning import DATAPROCESSOR_VERSION
from dp_resources.artifact_index import ArtifactIndex, IndexEntry
from dp_resources.artifact_store import DATA_FILE, ArtifactStore, CorruptArtifactError
from dp_resources.ids import VideoKey

MARKER = "_dp_export.json"
FEATURES = "features"
PARTITION_COLUMN = "platform_id"
# Rows buffered per (table, platform) before they are written as one row group: bounded memory
# for any number of videos, without one tiny row group per video.
ROWS_PER_GROUP = 50_000
# The file of a table that has no rows (no processed video): it carries the full schema.
EMPTY_FILE = "empty.parquet"


class ExportError(ValueError):
    """An export that cannot be written as asked; the message says why and what to do."""


@dataclass
class ExportResult:
    path: Path
    videos: int
    rows: dict[str, int]
    skipped: list[tuple[VideoKey, str]] = field(default_factory=list)


def exportable_tables(profile: Profile) -> list[str]:
    """The profile's components with a table of rows, ``features`` first."""
    names = [name for name, c in profile.components.items() if len(c.spec.output_schema) > 0]
    return sorted(names, key=lambda name: (name != FEATURES, name))


def parse_tables(profile: Profile, text: str) -> list[str]:
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    valid = exportable_tables(profile)
    unknown = [name for name in wanted if name not in valid]
    if unknown or not wanted:
        raise ExportError(
            f"unknown table{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid tables for profile {profile.name}: {', '.join(valid)}"
        )
    return list(dict.fromkeys(wanted))


def table_schema(profile: Profile, table: str) -> pa.Schema:
    """The exported schema of ``table`` (without the hive partition column)."""
    spec = profile[table].spec
    ids = [pa.field("video_id", pa.string(), nullable=False)]
    if table == FEATURES:
        provenance = [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("processed_at", pa.timestamp("us", tz="UTC"), nullable=False),
            *[pa.field(f"{name}_version", pa.string(), nullable=False) for name in (FEATURES, *spec.upstream)],
        ]
        return pa.schema([*ids, *spec.output_schema, *provenance])
    return pa.schema([*ids, pa.field("artifact_version", pa.string(), nullable=False), *spec.output_schema])


def _video_rows(store: ArtifactStore, profile: Profile, entry: IndexEntry, tables: list[str]) -> dict[str, pa.Table]:
    """Every requested table of one video with its identity columns, or CorruptArtifactError."""
    video = entry.key.video
    out: dict[str, pa.Table] = {}
    for table in tables:
        version = entry.artifacts.get(table)
        if version is None:
            raise CorruptArtifactError(f"the indexed run has no {table} artifact")
        folder = store.artifact_dir(video.platform_id, video.video_id, table, version)
        try:
            store.read(folder, quick=True, load_table=False)
        except FileNotFoundError:
            raise CorruptArtifactError(f"{table}: no artifact at {folder}") from None
        schema = table_schema(profile, table)
        data = pq.read_table(folder / DATA_FILE) if (folder / DATA_FILE).is_file() else schema.empty_table().select(profile[table].spec.output_schema.names)
        n = data.num_rows
        columns: dict[str, pa.Array] = {"video_id": pa.array([video.video_id] * n, pa.string())}
        if table == FEATURES:
            columns["run_id"] = pa.array([entry.latest_success_run_id] * n, pa.string())
            columns["processed_at"] = pa.array([entry.finished_at] * n, pa.timestamp("us", tz="UTC"))
            for name in (FEATURES, *profile[FEATURES].spec.upstream):
                columns[f"{name}_version"] = pa.array([entry.artifacts.get(name, "")] * n, pa.string())
        else:
            columns["artifact_version"] = pa.array([version] * n, pa.string())
        for name in data.column_names:
            columns[name] = data.column(name)
        out[table] = pa.table(columns).select(schema.names).cast(schema)
    return out


class _Writers:
    """One Parquet file per (table, platform), written in buffered row groups."""

    def __init__(self, root: Path, schemas: dict[str, pa.Schema]):
        self.root, self.schemas = root, schemas
        self.buffers: dict[tuple[str, str], list[pa.Table]] = {}
        self.writers: dict[tuple[str, str], pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {table: 0 for table in schemas}

    def add(self, table: str, platform_id: str, data: pa.Table) -> None:
        buffer = self.buffers.setdefault((table, platform_id), [])
        buffer.append(data)
        self.rows[table] += data.num_rows
        if sum(t.num_rows for t in buffer) >= ROWS_PER_GROUP:
            self._flush(table, platform_id)

    def _flush(self, table: str, platform_id: str) -> None:
        buffer = self.buffers.pop((table, platform_id), [])
        if not buffer:
            return
        writer = self.writers.get((table, platform_id))
        if writer is None:
            folder = self.root / table / f"{PARTITION_COLUMN}={platform_id}"
            folder.mkdir(parents=True)
            writer = self.writers[(table, platform_id)] = pq.ParquetWriter(folder / "part-0.parquet", self.schemas[table])
        writer.write_table(pa.concat_tables(buffer))

    def close(self) -> None:
        for table, platform_id in list(self.buffers):
            self._flush(table, platform_id)
        for writer in self.writers.values():
            writer.close()
        for table, schema in self.schemas.items():
            if not (self.root / table).exists():
                # No rows at all: one empty file with the full schema, the partition column included.
                (self.root / table).mkdir(parents=True)
                pq.write_table(schema.append(pa.field(PARTITION_COLUMN, pa.string())).empty_table(), self.root / table / EMPTY_FILE)


def _check_target(out: Path, overwrite: bool) -> None:
    if not out.exists():
        if not out.parent.is_dir():
            raise ExportError(f"{out.parent} does not exist: create it first")
        return
    if not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if (out / MARKER).is_file() or overwrite or not any(out.iterdir()):
        return
    raise ExportError(f"{out} is not empty and holds no earlier export ({MARKER} is missing); pass --overwrite to replace it")


_RENAME_EXCHANGE = 2  # renameat2 flag (linux/fs.h)
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _publish(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp)  # the old export, now under the temporary name
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex}")
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def export_dataset(
    out: Path,
    profile: Profile,
    store: ArtifactStore,
    index: ArtifactIndex,
    tables: list[str] | None = None,
    since: dt.datetime | None = None,
    overwrite: bool = False,
    progress=None,
) -> ExportResult:
    """Write the dataset of ``profile`` to ``out``; ``progress(done, total)`` is called per video."""
    out = Path(out).absolute()
    tables = tables or [FEATURES]
    unknown = [t for t in tables if t not in exportable_tables(profile)]
    if unknown:
        raise ExportError(f"unknown tables {', '.join(unknown)}; valid tables for profile {profile.name}: {', '.join(exportable_tables(profile))}")
    _check_target(out, overwrite)
    entries = index.entries(profile.config_hash, profile.sampling.version, DATAPROCESSOR_VERSION, since)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex}")
    tmp.mkdir()
    try:
        writers = _Writers(tmp, {table: table_schema(profile, table) for table in tables})
        skipped: list[tuple[VideoKey, str]] = []
        for done, entry in enumerate(entries, 1):
            try:
                rows = _video_rows(store, profile, entry, tables)
            except CorruptArtifactError as exc:
                skipped.append((entry.key.video, str(exc)))
            else:
                for table, data in rows.items():
                    writers.add(table, entry.key.platform_id, data)
            if progress is not None:
                progress(done, len(entries))
        writers.close()
        result = ExportResult(out, len(entries) - len(skipped), writers.rows, skipped)
        marker = {
            "profile": profile.name,
            "config_hash": profile.config_hash,
            "sampling_policy_version": profile.sampling.version,
            "dataprocessor_version": DATAPROCESSOR_VERSION,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "since": since.isoformat() if since else None,
            "videos": result.videos,
            "rows": result.rows,
            "skipped": [{"video": str(video), "reason": reason} for video, reason in skipped],
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
