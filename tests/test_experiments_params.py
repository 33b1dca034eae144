"""Experiment descriptions, parameter parsing and the registry."""

import experiments_demo
import pytest

from experiments.experiment import (
    Experiment,
    RunResult,
    UsageError,
    brokersim_version,
    coerce,
    parse_value,
    split_assignment,
)
from experiments.registry import all_experiments, select

DEMO = "experiments_demo"


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("1_000", 1000), ("-2", -2), ("0.5", 0.5), ("1e6", 1e6), ("true", True),
     ("Off", False), ("yes", True), ("all", "all"), ("earliest", "earliest")],
)
def test_parse_value(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("text", "default", "value"),
    [("5", 1.0, 5.0), ("1e6", 10, 1_000_000), ("0", True, False), ("on", False, True),
     ("1", "all", "1"), ("60000", 604_800_000, 60_000), ("x", None, "x")],
)
def test_coerce_to_the_type_of_the_default(text, default, value):
    got = coerce("p", text, default)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("text", "default"), [("1.5", 3), ("abc", 2.0), ("maybe", True)])
def test_coerce_rejects_values_of_the_wrong_type(text, default):
    with pytest.raises(UsageError, match="parameter 'p' expects"):
        coerce("p", text, default)


def test_split_assignment_keeps_dotted_keys_and_later_equals_signs():
    assert split_assignment("retention.ms=60000", "--set") == ("retention.ms", "60000")
    assert split_assignment("filter=a=b", "--set") == ("filter", "a=b")
    with pytest.raises(UsageError, match="--set expects key=value"):
        split_assignment("retention.ms", "--set")


def test_resolve_applies_quick_then_overrides_and_names_unknown_keys():
    demo = experiments_demo.EXPERIMENTS[0]
    assert demo.resolve()["messages"] == 2000
    assert demo.resolve(quick=True)["messages"] == 500
    params = demo.resolve({"messages": "700", "loss.probability": 0.25}, quick=True)
    assert params["messages"] == 700 and params["loss.probability"] == 0.25
    with pytest.raises(UsageError, match=r"unknown parameter 'los\.probability' of experiment "
                                         r"'demo'; did you mean 'loss\.probability'\?"):
        demo.resolve({"los.probability": "0.2"})
    assert demo.params["messages"] == 2000  # the description is never changed


def test_experiment_descriptions_are_validated_and_frozen():
    def run(params, seed):
        return RunResult()

    with pytest.raises(ValueError, match="name"):
        Experiment("Bad Name", "q?", "e.", {}, run)
    with pytest.raises(ValueError, match="question"):
        Experiment("ok", " ", "e.", {}, run)
    with pytest.raises(ValueError, match="quick overrides unknown"):
        Experiment("ok", "q?", "e.", {"a": 1}, run, quick={"b": 2})
    exp = Experiment("ok", "q?", "e.", {"a": 1}, run)
    with pytest.raises(TypeError):
        exp.params["a"] = 2  # read-only mapping
    with pytest.raises(AttributeError):
        exp.name = "other"


def test_run_result_normalises_metric_values():
    import numpy as np

    r = RunResult(metrics=[("redis", "n", np.int64(3), "msgs"), ("kafka", "x", np.float32(0.5),
                                                                 "s")])
    assert r.metrics[0].value == 3 and type(r.metrics[0].value) is int
    assert type(r.metrics[1].value) is float and r.value("kafka", "x") == 0.5
    with pytest.raises(KeyError, match="'y'"):
        r.value("kafka", "y")


def test_registry_is_built_fresh_each_call_and_accepts_injected_modules():
    first = all_experiments([DEMO])
    assert {"demo", "demo-noplot"} <= set(first)
    first.clear()
    assert "demo" in all_experiments([DEMO])
    assert "demo" not in all_experiments()


def test_select_names_all_and_unknown_names():
    registry = all_experiments([DEMO])
    assert [e.name for e in select(registry, ["all"])] == list(registry)
    assert [e.name for e in select(registry, ["demo-noplot", "demo"])] == ["demo-noplot", "demo"]
    with pytest.raises(UsageError, match=r"unknown experiment 'demoo'; did you mean 'demo'\?"):
        select(registry, ["demoo"])
    with pytest.raises(UsageError, match="no experiments are registered"):
        select({}, ["all"])


def test_injected_module_must_define_something():
    with pytest.raises(UsageError, match="defines no EXPERIMENT"):
        all_experiments(["experiments.atomic"])
    with pytest.raises(UsageError, match="cannot import experiments module 'no_such_module'"):
        all_experiments(["no_such_module"])


def test_version_is_known():
    assert brokersim_version() not in ("", "unknown")
