"""Finds component specs: every module under ``dp_assets.components`` that defines ``SPEC``.

A profile may name extra modules (``component_modules``) so a team can add components without
touching this package.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Iterable

from dp_assets import components as _components_pkg
from dp_assets.contract import ComponentSpec


def _specs_in(module_names: Iterable[str]) -> dict[str, ComponentSpec]:
    found: dict[str, ComponentSpec] = {}
    for module_name in module_names:
        module = importlib.import_module(module_name)
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, ComponentSpec):
            if spec.name in found:
                raise ValueError(f"component {spec.name!r} is defined twice (second in {module_name})")
            found[spec.name] = spec
    return found


@lru_cache(maxsize=1)
def builtin_specs() -> dict[str, ComponentSpec]:
    names = [m.name for m in pkgutil.walk_packages(_components_pkg.__path__, prefix=f"{_components_pkg.__name__}.")]
    return _specs_in(sorted(names))


def available_specs(extra_modules: Iterable[str] = ()) -> dict[str, ComponentSpec]:
    specs = dict(builtin_specs())
    for name, spec in _specs_in(extra_modules).items():
        if name in specs:
            raise ValueError(f"component {name!r} from {spec.compute.__module__} clashes with a built-in component")
        specs[name] = spec
    return specs
