"""``dp serve``: keep the models loaded and compute what ``dp process`` hands over (``dp_assets.resident``)."""

from __future__ import annotations

import argparse
import logging

from dp_assets.cli.output import EXIT_BAD_INPUT, fail
from dp_resources.settings import current_settings


def add_parser(sub) -> None:
    serve = sub.add_parser(
        "serve",
        help="keep the models loaded: dp process on this DP_HOME hands its videos to this process (Ctrl-C or SIGTERM stops it)",
    )
    serve.add_argument("--profile", default=argparse.SUPPRESS, help="profile whose models are loaded and warmed up before it is ready")
    serve.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="skip the warm-up pass over the demo clip")
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dp_assets.profiles import ProfileError
    from dp_assets.resident.server import ResidentServer, ServerRunning

    # A server's log is its output: what it loads and computes (dp quiets it for other commands),
    # and the libraries' warnings.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s dp serve %(levelname)s %(message)s")
    library_log = logging.getLogger("dataprocessor")
    library_log.propagate = True
    library_log.setLevel(logging.INFO)
    try:
        server = ResidentServer(current_settings(), args.profile, warm_up=args.warm_up)
        return server.serve(ready=lambda line: print(line, flush=True))
    except ServerRunning as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except (ProfileError, RuntimeError, ValueError) as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
