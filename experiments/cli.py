"""``python -m experiments``: list, run, sweep, replay and bench the experiments.

``replay FILE`` replays a workload file (brokersim TOML or OpenMessaging Benchmark YAML, see
:mod:`experiments.workloads`) through both models and writes what ``run`` writes.

Exit codes: 0 done; 1 some run failed (the report says which and why) or a scenario module is
broken; 2 bad usage (unknown experiment or parameter, bad value), with one message naming it;
130 interrupted (no half-written file is left: every file is written atomically).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from experiments.experiment import UsageError, brokersim_version, split_assignment
from experiments.registry import RegistryError, all_bench_cases, all_experiments, select
from experiments.workloads import WorkloadFileError

PROG = "python -m experiments"


def _modules_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experiments-module", action="append", default=[], metavar="MODULE",
        help="also load experiments / bench cases from this importable module "
             "(defining EXPERIMENT, EXPERIMENTS or BENCH_CASES); repeatable",
    )


def _execution_options(parser: argparse.ArgumentParser, replications: int) -> None:
    parser.add_argument("--seed", type=int, default=0,
                        help="root seed; replication r gets child r of SeedSequence(seed) "
                             "(default: %(default)s)")
    parser.add_argument("--replications", type=int, default=replications,
                        help="replications per parameter point (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("results"),
                        help="output directory (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=0,
                        help="worker processes of the process executor (runs, then figures); 1 "
                             "runs in-process, 0 uses every CPU (default: %(default)s, every CPU)")
    parser.add_argument("--executor", default="process", metavar="EXECUTOR",
                        help="where runs execute: 'process' (a process pool of --jobs "
                             "workers), 'serial' (this process) or 'dask://HOST:PORT' (a Dask "
                             "distributed scheduler; needs brokersim[dask]) "
                             "(default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _execution_options(common, replications=5)
    common.add_argument("--quick", action="store_true",
                        help="use each experiment's small 'quick' size (runs in seconds)")
    common.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="sets",
                        help="override a parameter (int/float/bool/str, converted to the "
                             "default's type; dotted Kafka/Redis names are fine); repeatable")
    _modules_option(common)
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its five subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run brokersim's Redis Pub/Sub vs Kafka experiments: results.csv, "
        "figures (PNG + SVG), report.md and report.html in --out.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _run_options()

    p_list = sub.add_parser("list", help="list the experiments and their parameters",
                            description="List the experiments, their questions and parameters.")
    _modules_option(p_list)

    p_run = sub.add_parser("run", parents=[common], help="run experiments by name, or 'all'",
                           description="Run the named experiments ('all' for every one).")
    p_run.add_argument("names", nargs="+", metavar="NAME", help="experiment names, or 'all'")

    p_sweep = sub.add_parser("sweep", parents=[common], help="run one experiment over a grid",
                             description="Run one experiment at every point of a parameter grid "
                                         "(the cartesian product of the --param lists).")
    p_sweep.add_argument("name", metavar="NAME", help="experiment name")
    p_sweep.add_argument("--param", action="append", required=True, metavar="KEY=V1,V2,...",
                         dest="params", help="a parameter and its values; repeat for a grid")

    p_replay = sub.add_parser(
        "replay", help="replay a workload file (TOML or OpenMessaging Benchmark YAML)",
        description="Replay a workload file through both models: brokersim TOML "
                    "(experiments/workloads/example.toml) or an OpenMessaging Benchmark "
                    "workload YAML. Writes results.csv, figures, report.md and report.html "
                    "to --out.")
    p_replay.add_argument("file", type=Path, metavar="FILE", help="the workload file")
    p_replay.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                          help="multiply the schedule (duration, warm-up, start/stop, backlog) "
                               "by X, keeping rates: 0.01 replays 1%% of it "
                               "(default: %(default)s)")
    p_replay.add_argument("--duration", default=None, metavar="DURATION",
                          help="measured duration after warm-up and backlog build-up, e.g. "
                               "'30s' (default: the file's, times --time-scale)")
    p_replay.add_argument("--models", default="redis,kafka", metavar="M1,M2",
                          help="models to replay through (default: %(default)s)")
    _execution_options(p_replay, replications=1)

    p_bench = sub.add_parser("bench", help="measure simulation speed and memory per delivery",
                             description="Measure deliveries per second and memory per delivery "
                                         "of the bench cases (the models and the naive simpy "
                                         "baselines) and write bench.csv and bench.md.")
    p_bench.add_argument("cases", nargs="*", metavar="CASE",
                         help="bench cases to run (default: all)")
    p_bench.add_argument("--scale", type=float, default=1.0,
                         help="multiply every case's workload size (default: %(default)s)")
    p_bench.add_argument("--quick", action="store_true", help="same as --scale 0.01")
    p_bench.add_argument("--out", type=Path, default=Path("results"),
                         help="output directory (default: %(default)s)")
    p_bench.add_argument("--in-process", action="store_true",
                         help="run cases in this process (peak RSS deltas then understate "
                              "later cases); default: a fresh process per case")
    p_bench.add_argument("--list", action="store_true", help="list the bench cases and exit")
    _modules_option(p_bench)
    return parser


def _cmd_list(args: argparse.Namespace) -> int:
    registry = all_experiments(args.experiments_module)
    if not registry:
        print("no experiments registered yet (add a module to experiments/scenarios/)")
    for exp in registry.values():
        print(f"{exp.name}\n  question: {exp.question}\n  expected: {exp.expected}")
        params = ", ".join(f"{k}={v!r}" for k, v in exp.params.items())
        print(f"  params:   {params}")
        if exp.quick:
            print(f"  --quick:  {', '.join(f'{k}={v!r}' for k, v in exp.quick.items())}")
    return 0


def _sweep_values(specs: Sequence[str]) -> dict[str, list[str]]:
    sweep: dict[str, list[str]] = {}
    for text in specs:
        key, values = split_assignment(text, "--param")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not items:
            raise UsageError(f"--param {key} has no values")
        if key in sweep:
            raise UsageError(f"--param {key} is given twice")
        sweep[key] = items
    return sweep


def _cmd_run(args: argparse.Namespace) -> int:
    from experiments.report import write_outputs
    from experiments.runner import execute, parse_executor, plan

    if args.jobs < 0:
        raise UsageError(f"--jobs must be 0 (every CPU) or more, not {args.jobs}")
    registry = all_experiments(args.experiments_module)
    names = [args.name] if args.command == "sweep" else args.names
    chosen = select(registry, names)
    overrides = dict(split_assignment(text, "--set") for text in args.sets)
    sweep = _sweep_values(args.params) if args.command == "sweep" else {}
    specs = plan(chosen, seed=args.seed, replications=args.replications, quick=args.quick,
                 overrides=overrides, sweep=sweep)
    jobs = args.jobs or os.cpu_count() or 1
    start = time.perf_counter()
    results = execute(registry, specs, jobs=jobs, progress=not args.no_progress,
                      executor=args.executor)
    header = [
        f"- brokersim {brokersim_version()}; seed {args.seed}; {args.replications} replication(s) "
        f"per point{'; --quick size' if args.quick else ''}",
        f"- command: `{PROG} {shlex.join(sys.argv[1:])}`",
        f"- {len(results)} runs, {sum(not r.ok for r in results)} failed",
        "- 95% confidence intervals: mean ± t(0.975, n-1)·s/√n over replications",
    ]
    figure_jobs = jobs if parse_executor(args.executor).kind == "process" else 1
    outputs = write_outputs(args.out, chosen, results, header, jobs=figure_jobs)
    n_figs = sum(len(p) for p in outputs.figures.values())
    print(f"{len(results)} runs in {time.perf_counter() - start:.1f} s; wrote {outputs.csv}, "
          f"{outputs.report} (and .html) and {n_figs} figure files")
    for name, check in outputs.checks.items():
        print(f"  {name}: expected outcome {check}")
    if outputs.failed_runs:
        print(f"{outputs.failed_runs} run(s) failed; see {outputs.report}", file=sys.stderr)
        return 1
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from experiments.replay import kafka_available, mapping_notes, prepare, replay_experiment
    from experiments.report import write_outputs
    from experiments.runner import execute, parse_executor, plan
    from sim.units import parse_duration

    if args.jobs < 0:
        raise UsageError(f"--jobs must be 0 (every CPU) or more, not {args.jobs}")
    executor = parse_executor(args.executor)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        duration = parse_duration(args.duration) if args.duration is not None else 0.0
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    if not (math.isfinite(args.time_scale) and args.time_scale > 0):
        raise UsageError(f"--time-scale must be a positive number, not {args.time_scale}")
    try:
        prepare(args.file, args.time_scale, duration)  # a malformed file is the first error
    except WorkloadFileError:
        raise
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    notes = []
    missing = kafka_available()
    if "kafka" in models and missing is not None:
        if models == ["kafka"]:
            raise UsageError(missing)
        models.remove("kafka")
        notes.append(f"kafka: not replayed: {missing}")
        print(f"{PROG}: note: {notes[-1]}", file=sys.stderr)
    try:
        exp, desc = replay_experiment(args.file, time_scale=args.time_scale, duration=duration,
                                      models=tuple(models))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    specs = plan([exp], seed=args.seed, replications=args.replications)
    start = time.perf_counter()
    results = execute({exp.name: exp}, specs, jobs=args.jobs or os.cpu_count() or 1,
                      progress=not args.no_progress, executor=executor)
    header = [
        f"- brokersim {brokersim_version()}; seed {args.seed}; {args.replications} "
        f"replication(s); time scale {args.time_scale:g}",
        f"- command: `{PROG} {shlex.join(sys.argv[1:])}`",
        *desc.summary(),
        *(f"- {note}" for note in [*notes, *mapping_notes(desc, tuple(models))]),
        f"- {len(results)} runs, {sum(not r.ok for r in results)} failed",
    ]
    outputs = write_outputs(args.out, [exp], results, header)
    n_figs = sum(len(p) for p in outputs.figures.values())
    print(f"replayed {desc.name!r} through {', '.join(models)}: {len(results)} run(s) in "
          f"{time.perf_counter() - start:.1f} s; wrote {outputs.csv}, {outputs.report} "
          f"(and .html) and {n_figs} figure files")
    for name, check in outputs.checks.items():
        print(f"  {name}: expected outcome {check}")
    if outputs.failed_runs:
        print(f"{outputs.failed_runs} run(s) failed; see {outputs.report}", file=sys.stderr)
        return 1
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from experiments.bench import NOTES, format_cases, format_table, run_bench, write_bench

    cases = all_bench_cases(args.experiments_module)
    if args.list:
        print(format_cases(cases.values()))
        return 0
    scale = 0.01 if args.quick else args.scale
    if scale <= 0:
        raise UsageError(f"--scale must be positive, not {scale}")
    rows = run_bench(cases, args.cases or None, scale=scale, isolate=not args.in_process,
                     echo=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_table(rows))
    print("\n".join(f"- {note}" for note in NOTES))
    csv_path, md_path = write_bench(args.out, rows)
    print(f"wrote {csv_path} and {md_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; return the exit code."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # plots are files; never open a window
    args = build_parser().parse_args(argv)
    commands = {"list": _cmd_list, "run": _cmd_run, "sweep": _cmd_run, "replay": _cmd_replay,
                "bench": _cmd_bench}
    try:
        return commands[args.command](args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except WorkloadFileError as exc:
        print(f"{PROG}: error: WorkloadFileError: {exc}", file=sys.stderr)
        return 2
    except RegistryError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; files already written are complete, none is half-written",
              file=sys.stderr)
        return 130
