"""How a profile's components are grouped into execution steps (stages).

Execution granularity is separate from the asset graph: components are grouped into *stages* —
maximal runs of one modality between modality changes (probe → visual ∥ audio → features) — and
each stage is one Dagster step. A Dagster step costs ~0.1 s in-process (1.4 s in the
multiprocess executor), so one step per component would blow the fixed-cost budget, while stages
still let visual and audio run in parallel on a multiprocess executor.
"""

from __future__ import annotations

from dp_assets.profiles import Profile, ResolvedComponent

GRANULARITIES = ("stage", "component", "video")


def whole_video_steps(profile: Profile) -> bool:
    """Whether one step processes a whole video: then one run can take a batch of videos."""
    return len(plan_stages(profile, profile.granularity)) == 1


def plan_stages(profile: Profile, granularity: str = "video") -> list[list[ResolvedComponent]]:
    """Group components into execution steps (see module docstring); order is dependency order.

    A component's layer grows by one at every modality change along its upstream chain; components
    sharing (modality, layer) form one stage. Every edge between stages goes to a higher layer, so
    stages never form a cycle.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if granularity == "component":
        return [[c] for c in profile.components.values()]
    if granularity == "video":
        return [list(profile.components.values())]
    layer: dict[str, int] = {}
    stages: dict[tuple[str, int], list[ResolvedComponent]] = {}
    for name, component in profile.components.items():
        modality = component.spec.modality
        layer[name] = max(
            (layer[up] + (profile[up].spec.modality != modality) for up in component.spec.upstream), default=0
        )
        stages.setdefault((modality.value, layer[name]), []).append(component)
    return sorted(stages.values(), key=lambda group: min(list(profile.components).index(c.name) for c in group))
