"""``dp doctor [--repair]``: what crashes left behind in DP_HOME and the instance, and fixing it."""

from __future__ import annotations

import argparse

from dp_assets.cli.output import EXIT_OK, EXIT_RUN_FAILED, render_table, shorten


def add_parser(sub) -> None:
    doctor = sub.add_parser("doctor", help="list stale runs, held slots, leftovers of interrupted writes, orphan artifacts and dangling index rows")
    doctor.add_argument("--repair", action="store_true", help="fix what is found (nothing a live process owns is touched)")
    doctor.add_argument(
        "--rebuild", action="store_true", help="rebuild the catalog and the artifact index from the run manifests (after a damaged database was moved aside)"
    )
    doctor.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dp_assets.doctor import Doctor
    from dp_resources.artifact_index import ArtifactIndex
    from dp_resources.artifact_store import ArtifactStore
    from dp_resources.gpu import gpu_from_env
    from dp_resources.instance import open_instance
    from dp_resources.video_catalog import VideoCatalog

    catalog = VideoCatalog()
    with open_instance() as instance:
        doctor = Doctor(ArtifactStore(), catalog, ArtifactIndex(database_url=catalog.database_url), instance, gpu_from_env())
        if args.rebuild:
            counts = doctor.rebuild()
            print("dp doctor: rebuilt from the artifacts: " + ", ".join(f"{count} {what}" for what, count in counts.items()))
            return EXIT_OK
        findings = doctor.examine()
        if not findings:
            print("dp doctor: nothing to report")
            return EXIT_OK
        rows = [(f.kind, shorten(f.subject, 60), shorten(f.detail, 70), f.repair or "-") for f in findings]
        print(render_table(("finding", "what", "detail", "--repair"), rows))
        if not args.repair:
            fixable = sum(1 for f in findings if f.repair)
            print(f"{len(findings)} finding(s), {fixable} fixable: run `dp doctor --repair`" if fixable else f"{len(findings)} finding(s), nothing to repair")
            return EXIT_RUN_FAILED if fixable else EXIT_OK
        for line in doctor.repair(findings):
            print(f"repaired: {line}")
        left = [f for f in doctor.examine() if f.repair]
        print("dp doctor: repaired" if not left else f"dp doctor: {len(left)} finding(s) left (in use by a live process)")
        return EXIT_OK if not left else EXIT_RUN_FAILED
