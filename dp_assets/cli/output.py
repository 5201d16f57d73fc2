"""How ``dp`` talks to its user: errors on stderr with exit codes, and the per-component table."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"dp: error: {message}", file=sys.stderr)
    return code


def shorten(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _note(entry) -> str:
    note = entry.error or ("; ".join(entry.warnings) if entry.warnings else "")
    if entry.reused_from is not None:
        origin = f"reused from {entry.reused_from.platform_id}/{entry.reused_from.video_id}"
        return origin + (f"; {note}" if note else "")
    if entry.cache_hit:
        return "cache hit" + (f"; {note}" if note else "")
    return note


def format_table(manifest) -> str:
    """One row per component: status, reason, wall/CPU seconds, peak memory growth, note."""
    header = ("component", "req", "status", "empty_reason", "seconds", "cpu_s", "mem_mb", "gpu_mb", "note")
    rows = []
    for entry in manifest.components:
        status = entry.status.upper() if entry.status == "error" else entry.status
        if entry.status == "error" and entry.optional:
            status = "ERROR (partial)"
        rows.append(
            (
                entry.component,
                "opt" if entry.optional else "req",
                status,
                entry.empty_reason or "",
                _num(entry.wall_seconds, ".3f"),
                _num(entry.cpu_seconds, ".3f"),
                _num(entry.peak_rss_delta_mb, ".0f"),
                _num(entry.peak_gpu_mb, ".0f"),
                shorten(_note(entry), 60),
            )
        )
    return render_table(header, rows)


def render_table(header: tuple[str, ...], rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
