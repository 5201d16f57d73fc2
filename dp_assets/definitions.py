"""The DataProcessor code location (``workspace.yaml``, ``[tool.dagster]``): the top of the graph.

Nothing imports this module. Dagster calls :func:`defs` when it loads the code location; the
profile (``DP_PROFILE``) and the GPU and bucket settings come from the deployment's settings
(``dp_resources.settings``) at that moment, because they decide the assets' code versions.
Importing the module builds nothing and loads no model library.
"""

import dagster as dg

from dp_assets.assembly import build_definitions
from dp_assets.profiles import load_profile
from dp_resources.gpu import gpu_from_env
from dp_resources.settings import current_settings
from dp_resources.video_bucket import bucket_from_env


@dg.definitions
def defs() -> dg.Definitions:
    gpu = gpu_from_env()
    profile = load_profile(current_settings().profile, runtime=gpu.runtime())
    return build_definitions(profile, gpu=gpu, bucket=bucket_from_env())
