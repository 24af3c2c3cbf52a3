"""bench/scale.py at a tiny size: the real pipeline CLI, per-step seconds, memory of each process kind and rows."""

import math
from argparse import Namespace

import pytest

from tests.conftest import TINY_MODELS, bench_module


def _flat(prefix, tree):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flat(f"{prefix}{key}.", value)
        else:
            yield f"{prefix}{key}={value}"


@pytest.mark.slow  # about 100 s: the bench's own run, kept out of the default suite (`make test-all`)
@pytest.mark.spark
def test_one_tiny_size_reports_every_step(tmp_path, capsys):
    bench = bench_module("scale")
    settings = [*_flat("models.", TINY_MODELS), "gates.min={}", "gates.min_ndcg_vs_popularity=0.0", "gates.min_ndcg_vs_best_generator=null", "synthetic.days=90"]
    args = Namespace(movies=80, events_per_user=15, workdir=tmp_path, set=settings)
    run = bench.run_size(150, args)
    bench.print_run(run)
    out = capsys.readouterr().out
    steps = ["ingest", "features", "train_eval", "score_eval", "evaluate", "train_full", "score_full", "publish", "retention"]
    assert list(run.steps) == steps
    for step in steps:
        assert step in out and run.steps[step] > 0
    assert run.peaks["train_eval"].driver > 50, "the driver's RSS is sampled while it trains"
    assert max(p.jvm for p in run.peaks.values()) > 100, "and the JVM's"
    events_in, events_landed = run.rows["ingest"]
    assert events_in and events_landed and events_landed <= events_in
    assert run.rows["score_full"][1] > 0, "published lists are counted"


def test_growth_exponent_is_log_time_ratio_over_log_size_ratio(capsys):
    bench = bench_module("scale")
    small, large = bench.Run(1000, seconds=10.0, steps={"train": 4.0}), bench.Run(10000, seconds=100.0, steps={"train": 80.0})
    bench.print_growth([small, large])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("train"))
    assert float(row.split()[-1]) == pytest.approx(math.log(20) / math.log(10), abs=0.01)


def test_cluster_run_is_printed_beside_the_local_run(capsys):
    bench = bench_module("scale")
    report = {"models": {"final": {"ndcg@10": 0.2, "recall@10": 0.3, "coverage@10": 0.5, "users": 40}},
              "intervals": {"final": {"ndcg@10": [0.15, 0.25]}}, "gates": {"passed": True}, "published_version": "v1"}
    local = bench.list_metrics(report)
    assert local["lists"]["final"]["ndcg@10"] == [0.2, 0.15, 0.25]
    assert local["lists"]["final"]["recall@10"] == [0.3, None, None]
    assert local["published"] and local["users_evaluated"] == 40
    report["models"]["final"]["ndcg@10"] = 0.21
    bench.print_comparison(1000, local, bench.list_metrics({**report, "published_version": None}))
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("final") and "ndcg@10" in line)
    assert row.split()[-1] == "+0.0100"
    assert "published: local True, cluster False" in out
