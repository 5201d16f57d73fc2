"""The bucket sensor: each new or changed video in the bucket becomes one catalog entry and one
partition, and is processed by exactly one ``process_video`` run, never two. A tick decides at most
``max_objects_per_tick`` objects that are complete (a remote object, or a local file not modified
for ``settle_s``: ``BucketObject.settled``) or that an earlier tick saw unchanged, and says what
it did in its log and skip reason.

Videos decided in one tick share runs: their partitions are added in one call, so they are
contiguous, and each run takes a range of them (at most ``DP_BATCH_MAX_VIDEOS``, and split so
every warm worker gets a share). A batch's run key hashes its members' keys, and the ledger keeps
it per object, so a tick whose result Dagster never stored requests the very same runs again.
A video alone in its batch (or a profile that processes a video in several steps) gets a run of
its own partition, keyed by the object as before.
"""

# No `from __future__ import annotations`: Dagster reads the sensor's parameter annotations to
# inject the resources.
import hashlib
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import dagster as dg

from dp_assets import run_tags
from dp_assets.ingest.inspect import ParsedKey, is_ignored, is_sidecar, parse_key, sniff_container
from dp_assets.ingest.ledger import PENDING, REJECTED, REQUESTED, IngestLedger, LedgerRow
from dp_assets.partitions import (
    PARTITION_RANGE_END,
    PARTITION_RANGE_START,
    VIDEO_PARTITIONS_NAME,
    add_video_partitions,
    contiguous_batches,
    video_partitions,
)
from dp_resources.ids import VideoKey
from dp_resources.settings import current_settings
from dp_resources.video_bucket import FILE, BucketObject, BucketReadError, VideoBucket
from dp_resources.video_catalog import VideoCatalog

BUCKET_SENSOR = "video_bucket_sensor"
CURSOR_VERSION = 1
# Routine per-object lines (new, requested, replayed) beyond this many per tick are summarised, so a
# tick that sees 10,000 new uploads writes a readable log. Problems (rejected, blocked, retry,
# changed) are always logged one line each; the cap per tick bounds them.
MAX_LOG_LINES = 50
ALWAYS_LOGGED = frozenset({"rejected", "blocked", "retry", "changed"})


def parse_cursor(cursor: str | None) -> int:
    """The sequence number of the last tick whose result Dagster stored (0 before the first)."""
    if not cursor:
        return 0
    data = json.loads(cursor)
    if data.get("v") != CURSOR_VERSION:
        raise ValueError(f"bucket sensor cursor version {data.get('v')!r} is not {CURSOR_VERSION}; reset the cursor")
    return int(data["seq"])


def dump_cursor(seq: int) -> str:
    return json.dumps({"v": CURSOR_VERSION, "seq": seq})


def run_key_for(platform_id: str, video_id: str, identity: str) -> str:
    """Same platform, video and content identity -> same key, so Dagster never runs it twice."""
    return f"{platform_id}/{video_id}@{hashlib.sha256(identity.encode()).hexdigest()[:20]}"


def batch_run_key(member_run_keys: list[str]) -> str:
    """The run key of a batch: its members' own run keys, hashed, so the same batch is the same run."""
    return "batch@" + hashlib.sha256("\n".join(sorted(member_run_keys)).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class _Decision:
    key: str  # the bucket object
    video: VideoKey
    run_key: str  # the object's own run key, or the batch's when replayed


def interval_from_env() -> int:
    return current_settings().bucket_sensor_interval_s


class _Log:
    """Per-object log lines, capped per category, plus the counts for the tick summary."""

    def __init__(self, log):
        self.log = log
        self.counts: Counter[str] = Counter()

    def __call__(self, category: str, message: str, level: str = "info") -> None:
        self.counts[category] += 1
        if category in ALWAYS_LOGGED or self.counts[category] <= MAX_LOG_LINES:
            getattr(self.log, level)(message)
        elif self.counts[category] == MAX_LOG_LINES + 1:
            self.log.info(f"(further '{category}' lines of this tick are left out; the summary counts them)")


class BucketTick:
    """One evaluation of the sensor, numbered the stored cursor plus one: a ledger decision numbered
    above the stored cursor comes from an evaluation whose result Dagster never stored."""

    def __init__(
        self, context: dg.SensorEvaluationContext, bucket: VideoBucket, catalog: VideoCatalog, job_name: str, batchable: bool = True
    ):
        self.context = context
        self.bucket = bucket
        self.catalog = catalog
        self.job_name = job_name
        self.batchable = batchable
        self.decided: list[_Decision] = []
        self.replayed: list[_Decision] = []
        self.stored_seq = parse_cursor(context.cursor)
        self.seq = self.stored_seq + 1
        self.note = _Log(context.log)
        self.requests: list[dg.RunRequest] = []
        self.partitions: list[str] = []
        self.objects_left = bucket.max_objects_per_tick
        self.bytes_left = bucket.max_bytes_per_tick

    def evaluate(self) -> dg.SensorResult:
        bucket_id = self.bucket.bucket_id()
        try:
            listing = self.bucket.list_objects()
        except Exception as exc:  # a missing folder, a refused or unreachable endpoint
            return dg.SensorResult(
                skip_reason=f"cannot list bucket {bucket_id}: {type(exc).__name__}: {exc}", cursor=self.context.cursor
            )
        self.ledger = IngestLedger(self.catalog.database_url, bucket_id)
        known = self.ledger.load()
        objects = [o for o in listing if not is_ignored(o.key) and not is_sidecar(o)]
        self.by_key = {o.key: o for o in listing}
        self.note.counts["ignored"] = len(listing) - len(objects)
        self.parsed = {o.key: parse_key(o) for o in objects}
        # Two objects of one video (yt/x.mp4 and yt/x.webm) cannot both be it; the same video_id
        # on two platforms is two videos.
        self.claims: dict[VideoKey, list[str]] = defaultdict(list)
        for key, parsed in self.parsed.items():
            if isinstance(parsed, ParsedKey):
                self.claims[parsed.video].append(key)

        self._replay(known)
        taken = []
        for obj in self._observe(objects, known):
            if self._take(obj):
                taken.append(obj)
            else:
                self.note.counts["deferred"] += 1
        self.registrations: list[tuple[VideoKey, str]] = []
        for obj in taken:
            self._decide(obj)
        self._register()
        self._forget_vanished_pending(known)
        self._add_partitions()
        self._request_runs()
        self.ledger.commit()
        summary = self._summary(bucket_id, len(listing))
        cursor = dump_cursor(self.seq)
        if self.requests:
            self.context.log.info(summary)
            return dg.SensorResult(run_requests=self.requests, cursor=cursor)
        return dg.SensorResult(skip_reason=summary, cursor=cursor)

    # -- the steps of a tick -------------------------------------------------------------------
    def _replay(self, known: dict[str, LedgerRow]) -> None:
        """Requests decided by an evaluation whose result Dagster never stored are made again;
        their run keys are unchanged, so a run that did start is not started twice."""
        for row in sorted((r for r in known.values() if r.state == REQUESTED and (r.decided_seq or 0) > self.stored_seq), key=lambda r: r.key):
            if self.objects_left <= 0:
                break
            self.objects_left -= 1
            self.note("replayed", f"{row.key}: re-requesting run {row.run_key} (its tick's result was not stored)")
            video = VideoKey(row.platform_id, row.video_id)
            self.partitions.append(video.partition_key)
            self.replayed.append(_Decision(row.key, video, row.run_key))
            self.ledger.update(row.key, decided_seq=self.seq)

    def _observe(self, objects: list[BucketObject], known: dict[str, LedgerRow]) -> list[BucketObject]:
        """Record new or changed objects as pending; return those that are stable: seen unchanged
        by an earlier tick, or settled when listed (``BucketObject.settled``)."""
        stable = []
        for obj in sorted(objects, key=lambda o: o.key):
            row = known.get(obj.key)
            if row is not None and row.identity == obj.identity:
                if row.state == PENDING and (row.seen_seq < self.seq or obj.settled):
                    stable.append(obj)
                elif row.state == PENDING:
                    self.note.counts["waiting"] += 1
                else:
                    self.note.counts["unchanged"] += 1
                continue
            self.ledger.stage(LedgerRow(obj.key, obj.identity, PENDING, seen_seq=self.seq))
            waits = "" if obj.settled else "; waiting one tick for it to be stable"
            if row is not None and row.state != PENDING:
                self.note("changed", f"{obj.key}: changed since it was {row.state} ({row.identity} -> {obj.identity}){waits}")
            if obj.settled:
                stable.append(obj)  # complete when listed: decided in this tick
                continue
            self.note.counts["waiting"] += 1
            if row is None:
                self.note("new", f"{obj.key}: new{waits}")
            elif row.state == PENDING:
                self.note("growing", f"{obj.key}: still changing ({row.identity} -> {obj.identity}); waiting until a tick sees it unchanged")
        return stable

    def _take(self, obj: BucketObject) -> bool:
        """Spend the tick's budget; the first object is always taken, whatever its size."""
        first = self.objects_left == self.bucket.max_objects_per_tick
        downloads = 0 if self.bucket.is_local else obj.size
        if self.objects_left <= 0 or (downloads > self.bytes_left and not first):
            return False
        self.objects_left -= 1
        self.bytes_left -= downloads
        return True

    def _reject(self, obj: BucketObject, reason: str) -> None:
        self.note("rejected", f"{obj.key}: rejected: {reason}", "warning")
        self.ledger.update(obj.key, state=REJECTED, decided_seq=self.seq, reason=reason)

    def _decide(self, obj: BucketObject) -> None:
        parsed = self.parsed[obj.key]
        if isinstance(parsed, str):
            return self._reject(obj, parsed)
        if obj.size == 0:
            return self._reject(obj, "empty file (0 bytes)")
        sidecar = self.by_key.get(parsed.sidecar_key)
        if sidecar is not None and sidecar.kind != FILE:
            return self._reject(obj, f"its sidecar {parsed.sidecar_key} is a {sidecar.kind}, not a regular file (never followed)")
        # Conditions that another object or registration causes: not stored as a decision, so the
        # object is decided again once the conflict is gone.
        others = [k for k in self.claims[parsed.video] if k != obj.key]
        if others:
            return self.note("blocked", f"{obj.key}: blocked: video {parsed.video} is also claimed by {', '.join(sorted(others))}; keep one", "warning")
        try:
            container = sniff_container(self.bucket.read_head(obj))
            if container is None:
                return self._reject(obj, "not a video container (its first bytes match no known signature)")
            path = self.bucket.localize(obj, parsed.platform_id, parsed.video_id, parsed.sidecar_key if sidecar else None)
        except BucketReadError as exc:
            if exc.permanent:
                return self._reject(obj, f"unreadable: {exc}")
            # Transient (network, or gone since the listing): stays pending, decided next tick.
            return self.note("retry", f"{obj.key}: {exc}", "warning")
        self.registrations.append((parsed.video, str(path)))
        run_key = run_key_for(parsed.platform_id, parsed.video_id, obj.identity)
        self.note("requested", f"{obj.key}: requesting {self.job_name} for video {parsed.video} ({container}, {obj.size} bytes)")
        self.partitions.append(parsed.video.partition_key)
        self.decided.append(_Decision(obj.key, parsed.video, run_key))
        self.ledger.update(
            obj.key, state=REQUESTED, decided_seq=self.seq, platform_id=parsed.platform_id, video_id=parsed.video_id, run_key=run_key, reason=None
        )

    def _register(self) -> None:
        """Catalog rows before partitions and runs, so a run never finds its video unknown; one
        transaction for the tick."""
        self.catalog.register_many(self.registrations)

    def _request_runs(self) -> None:
        """The tick's run requests: replayed batches as they were, new decisions in contiguous
        batches of partitions (one partition each where a profile cannot batch)."""
        replayed: dict[str, list[_Decision]] = defaultdict(list)
        for decision in self.replayed:
            replayed[decision.run_key].append(decision)
        for run_key, members in replayed.items():
            self._request(members, run_key)
        if not self.decided:
            return
        by_partition = {d.video.partition_key: d for d in self.decided}
        ordered = self.context.instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME) if len(by_partition) > 1 else list(by_partition)
        for batch in contiguous_batches(ordered, list(by_partition), self._batch_size(len(by_partition))):
            members = [by_partition[key] for key in batch]
            run_key = members[0].run_key if len(members) == 1 else batch_run_key([m.run_key for m in members])
            for member in members:
                self.ledger.update(member.key, run_key=run_key)
            self._request(members, run_key)

    def _batch_size(self, decided: int) -> int:
        """At most DP_BATCH_MAX_VIDEOS per run, split so each warm worker gets a share."""
        if not self.batchable:
            return 1
        from dp_assets.workers.launcher import resolve_workers

        settings = current_settings()
        return max(1, min(settings.batch_max_videos, math.ceil(decided / resolve_workers())))

    def _request(self, members: list[_Decision], run_key: str) -> None:
        if len(members) == 1:
            (member,) = members
            partition = member.video.partition_key
            tags = {run_tags.VIDEO_ID: member.video.video_id, run_tags.PLATFORM_ID: member.video.platform_id, run_tags.BUCKET_KEY: member.key}
            # The request carries its partition tags already resolved: the partition is added by
            # this tick's batched call, and an unresolved request makes Dagster check each key with
            # its own query and connection (5-15 ms each: three quarters of a 1,000-request tick).
            tags.update(video_partitions.get_tags_for_partition_key(partition))
            self.requests.append(dg.RunRequest(job_name=self.job_name, partition_key=partition, run_key=run_key, tags=tags))
            return
        ordered = sorted(members, key=lambda m: self._position(m.video.partition_key))
        tags = {
            PARTITION_RANGE_START: ordered[0].video.partition_key,
            PARTITION_RANGE_END: ordered[-1].video.partition_key,
            run_tags.BATCH_SIZE: str(len(members)),
        }
        self.requests.append(dg.RunRequest(job_name=self.job_name, run_key=run_key, tags=tags))

    def _position(self, partition_key: str) -> int:
        if not hasattr(self, "_positions"):
            self._positions = {k: i for i, k in enumerate(self.context.instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME))}
        return self._positions[partition_key]

    def _forget_vanished_pending(self, known: dict[str, LedgerRow]) -> None:
        # A pending row of an object that is gone would otherwise make a later upload with the
        # same identity count as stable on first sight.
        for key, row in list(known.items()):
            if row.state == PENDING and key not in self.by_key:
                self.ledger.forget(key)

    def _add_partitions(self) -> None:
        add_video_partitions(self.context.instance, self.partitions)

    def _summary(self, bucket_id: str, listed: int) -> str:
        c = self.note.counts
        videos = len(self.decided) + len(self.replayed)
        parts = [f"requested {videos} in {len(self.requests)} run(s)" + (f" (replayed {c['replayed']})" if c["replayed"] else "")]
        for name, label in (
            ("rejected", "rejected"),
            ("blocked", "blocked by a conflict"),
            ("retry", "to retry after a read error"),
            ("waiting", "waiting for a tick that sees them unchanged"),
            ("deferred", "left for the next tick (cap per tick)"),
            ("unchanged", "already decided"),
            ("ignored", "ignored (hidden or sidecar)"),
        ):
            if c[name]:
                parts.append(f"{c[name]} {label}")
        return f"bucket {bucket_id}: {listed} entries; " + "; ".join(parts)


def build_bucket_sensor(job_name: str, minimum_interval_seconds: int | None = None, batchable: bool = True) -> dg.SensorDefinition:
    @dg.sensor(
        name=BUCKET_SENSOR,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds or interval_from_env(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Registers every new or changed video of the bucket (DP_BUCKET_URL) and requests its processing "
        "(videos that arrive together share runs).",
    )
    def video_bucket_sensor(context: dg.SensorEvaluationContext, bucket: VideoBucket, catalog: dg.ResourceParam[VideoCatalog]):
        return BucketTick(context, bucket, catalog, job_name, batchable).evaluate()

    return video_bucket_sensor
