"""Find the experiments and bench cases: one module per scenario in ``experiments/scenarios/``.

Nothing is registered by side effect and nothing is kept between calls: :func:`all_experiments`
imports the scenario modules and builds a fresh mapping each time it is called.

A scenario module provides ``EXPERIMENT`` (one :class:`~experiments.experiment.Experiment`) or
``EXPERIMENTS`` (a tuple of them), and may provide ``BENCH_CASES`` (a tuple of
:class:`~experiments.bench.BenchCase`). Extra modules (``--experiments-module``, used by the tests
for a demo experiment) are importable dotted names that follow the same convention.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from experiments.experiment import Experiment, UsageError, check_known, closest

if TYPE_CHECKING:
    from experiments.bench import BenchCase

SCENARIOS_PACKAGE = "experiments.scenarios"
BASELINES_MODULE = "experiments.baselines"


class RegistryError(Exception):
    """A scenario module is broken (does not import, defines nothing, or repeats a name)."""


def scenario_module_names() -> list[str]:
    """Dotted names of the modules in ``experiments/scenarios/`` (private ``_x`` ones skipped)."""
    package = importlib.import_module(SCENARIOS_PACKAGE)
    return sorted(
        f"{SCENARIOS_PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    )


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise UsageError(f"cannot import experiments module {name!r}: {exc}") from exc
        raise RegistryError(f"experiments module {name!r} failed to import: {exc!r}") from exc
    except Exception as exc:
        raise RegistryError(f"experiments module {name!r} failed to import: {exc!r}") from exc


def _experiments_of(module: ModuleType) -> tuple[Experiment, ...]:
    found = getattr(module, "EXPERIMENTS", None)
    if found is None:
        single = getattr(module, "EXPERIMENT", None)
        found = () if single is None else (single,)
    found = tuple(found)
    for item in found:
        if not isinstance(item, Experiment):
            raise RegistryError(f"{module.__name__}: {item!r} is not an Experiment")
    return found


def all_experiments(extra_modules: Iterable[str] = ()) -> dict[str, Experiment]:
    """Every experiment, by name (sorted), from the scenario modules plus ``extra_modules``.

    A scenario module that defines neither ``EXPERIMENT`` nor ``EXPERIMENTS`` is allowed (it may
    hold only bench cases); an extra module must define at least one of them or ``BENCH_CASES``.
    """
    extra = tuple(extra_modules)
    found: dict[str, Experiment] = {}
    for module_name in [*scenario_module_names(), *extra]:
        module = _import(module_name)
        experiments = _experiments_of(module)
        if not experiments and module_name in extra and not hasattr(module, "BENCH_CASES"):
            raise UsageError(
                f"experiments module {module_name!r} defines no EXPERIMENT, EXPERIMENTS or "
                "BENCH_CASES"
            )
        for exp in experiments:
            if exp.name in found:
                raise RegistryError(f"two experiments are named {exp.name!r} ({module_name})")
            found[exp.name] = exp
    return dict(sorted(found.items()))


def select(registry: dict[str, Experiment], names: Sequence[str]) -> list[Experiment]:
    """The experiments called ``names`` (``["all"]`` means every one), in the order given."""
    if list(names) == ["all"]:
        if not registry:
            raise UsageError(f"no experiments are registered (add a module to {SCENARIOS_PACKAGE})")
        return list(registry.values())
    chosen: list[Experiment] = []
    for name in names:
        check_known(name, registry, "experiment")
        if registry[name] not in chosen:
            chosen.append(registry[name])
    return chosen


def all_bench_cases(extra_modules: Iterable[str] = ()) -> dict[str, BenchCase]:
    """Every bench case, by name: the naive baselines, then scenario and extra modules' cases."""
    from experiments.bench import BenchCase

    found: dict[str, BenchCase] = {}
    for module_name in [BASELINES_MODULE, *scenario_module_names(), *extra_modules]:
        module = _import(module_name)
        for case in getattr(module, "BENCH_CASES", ()):
            if not isinstance(case, BenchCase):
                raise RegistryError(f"{module_name}: {case!r} is not a BenchCase")
            if case.name in found:
                raise RegistryError(f"two bench cases are named {case.name!r} ({module_name})")
            found[case.name] = case
    for case in found.values():
        if case.baseline is not None and case.baseline not in found:
            hint = closest(case.baseline, found)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise RegistryError(f"bench case {case.name!r} compares with unknown baseline "
                                f"{case.baseline!r}{suggestion}")
    return found
