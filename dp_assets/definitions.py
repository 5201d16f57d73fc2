"""The DataProcessor code location (``workspace.yaml``, ``[tool.dagster]``): the top of the graph.

Nothing imports this module. Dagster calls :func:`defs` when it loads the code location; the
profile (``DP_PROFILE``) and the GPU and bucket settings come from the deployment's settings
(``dp_resources.settings``) at that moment, because they decide the assets' code versions.
Importing the module builds nothing and loads no model library. The built definitions are kept
for as long as the settings and the profile file are the same: a warm worker loads the job of
every run it executes from here, and builds it once (see ``dp_assets.workers.worker``).
"""

import dagster as dg

from dp_assets.assembly import build_definitions
from dp_assets.profiles import load_profile, profile_path
from dp_resources.gpu import gpu_from_env
from dp_resources.settings import current_settings
from dp_resources.video_bucket import bucket_from_env


_built: dict[str, dg.Definitions] = {}


def _key() -> str:
    settings = current_settings()
    path = profile_path(settings.profile)
    stamp = path.stat().st_mtime_ns if path.is_file() else 0
    return f"{settings.model_dump_json()}|{path}|{stamp}"


@dg.definitions
def defs() -> dg.Definitions:
    key = _key()
    if key not in _built:
        gpu = gpu_from_env()
        profile = load_profile(current_settings().profile, runtime=gpu.runtime())
        _built.clear()
        _built[key] = build_definitions(profile, gpu=gpu, bucket=bucket_from_env())
    return _built[key]
