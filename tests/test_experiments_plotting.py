"""Figure helpers: distinguishable model styles, unit labels, PNG + SVG written atomically."""

from experiments.experiment import RunResult
from experiments.plotting import (
    axis_label,
    model_style,
    new_figure,
    plot_model,
    save_figure,
    varying_params,
)


def test_redis_and_kafka_are_told_apart_by_colour_marker_and_line():
    redis, kafka = model_style("redis"), model_style("kafka")
    assert redis.color != kafka.color and redis.marker != kafka.marker
    assert redis.linestyle != kafka.linestyle
    assert model_style("Redis (slow subscriber)").marker == redis.marker
    assert model_style("kafka acks=all").marker == kafka.marker
    assert model_style("kafka acks=all") == model_style("kafka acks=all")  # stable


def test_axis_label_carries_the_unit():
    assert axis_label("latency", "ms") == "latency (ms)"
    assert axis_label("loss rate", "") == "loss rate"


def test_save_figure_writes_png_and_svg_with_a_legend(tmp_path):
    fig, ax = new_figure("t", axis_label("x", "s"), axis_label("y", "B"))
    plot_model(ax, "redis", [1, 2], [3, 4])
    plot_model(ax, "kafka", [1, 2], [4, 5], yerr=[0.1, 0.2])
    paths = save_figure(fig, tmp_path / "figs", "lat")
    assert [p.name for p in paths] == ["lat.png", "lat.svg"]
    assert paths[0].read_bytes().startswith(b"\x89PNG")
    svg = paths[1].read_text()
    assert "<svg" in svg and "redis" in svg and "kafka" in svg
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["lat.png", "lat.svg"]


def test_varying_params_finds_the_swept_keys():
    runs = [RunResult(params={"a": 1, "b": "x"}), RunResult(params={"a": 2, "b": "x"})]
    assert varying_params(runs) == ["a"]
