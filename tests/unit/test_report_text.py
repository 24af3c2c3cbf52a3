"""The Markdown report and the figures at whatever cutoff `evaluation.k` sets, not only the default 10."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import sparse

from jobs import plots
from jobs.evaluate import bootstrap_models, check_gates, model_parts, point_metrics
from jobs.report_text import checks, columns, markdown

N_USERS, N_ITEMS = 6, 40
ORDER = ["popularity", "als", "ease", "content", "ranker", "final"]


def report_at(k: int) -> dict:
    """A report whose metrics come from evaluate's own `model_parts` and bootstrap, so the keys are the ones a run writes."""
    rng = np.random.default_rng(k)
    arrays = {name: np.stack([rng.permutation(N_ITEMS)[:2 * k] for _ in range(N_USERS)]) for name in ORDER}
    relevant = sparse.csr_matrix((rng.random((N_USERS, N_ITEMS)) < 0.3).astype(np.int8))
    users_per_item = rng.integers(0, 5, N_ITEMS)
    vectors = rng.normal(size=(N_ITEMS, 4))
    released = np.where(rng.random(N_ITEMS) < 0.2, 1e9, 0.0)     # a fifth of the movies are new releases
    fitted = SimpleNamespace(train=SimpleNamespace(n_users=N_USERS, n_items=N_ITEMS, as_of=1e9,
                                                   catalog=SimpleNamespace(release_ts=released)),
                             context=SimpleNamespace(item_unit=vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))
    parts = model_parts(arrays, relevant, fitted, users_per_item, ORDER, k)
    models = point_metrics(parts, N_USERS)
    replicates, intervals = bootstrap_models(parts, models, N_USERS, 50, seed=k)
    cfg = SimpleNamespace(evaluation=SimpleNamespace(k=k), gates=SimpleNamespace(min={f"ndcg@{k}": 0.0}, min_ndcg_vs_popularity=1.0,
                                                                              min_ndcg_vs_best_generator=1.0),
                          experiment=SimpleNamespace(variants={"control": None}))
    return {"run_id": f"k{k}", "protocol": {"split": "last 20% of each user's events", "users": f"{N_USERS} evaluated",
                                            "intervals": "95% percentile bootstrap"},
            "k": k, "models": models, "intervals": intervals, "gates": check_gates(cfg, models, replicates),
            "timing": {"fit_seconds": {"als": 1.0}, "score_ms_per_user": {"als": 0.1}},
            "candidates": {"per_user": 3.0}, "new_users": {}}


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.parametrize("k", [5, 10])
def test_report_uses_the_configured_k(k):
    report = report_at(k)
    text = markdown(report)
    header, final_row, _, final_bounds = (line for line in text.splitlines() if line.startswith(("| model |", "| final |")))
    row = dict(zip(cells(header), cells(final_row)))
    for metric in (f"ndcg@{k}", f"recall@{k}", f"map@{k}", f"ndcg@{2 * k}", f"recall@{2 * k}", f"coverage@{k}",
                   f"serendipity@{k}", f"novelty@{k}", f"diversity@{k}"):
        assert row[metric] == f"{report['models']['final'][metric]:.4f}"
    assert {column.rsplit("@", 1)[1] for column in row if "@" in column} == {str(k), str(2 * k), "100"}
    bounds = dict(zip(["model", *columns(k)], cells(final_bounds)))
    lo, hi = report["intervals"]["final"][f"ndcg@{k}"]
    assert bounds[f"ndcg@{k}"] == f"[{lo:.4f}, {hi:.4f}]"
    assert f"pass: final ndcg@{k} >= 1.0 x popularity ndcg@{k}" in text
    lines = checks(report)
    assert lines[0].startswith(f"final NDCG@{k} / EASE: ")
    assert any(line.startswith(f"coverage@{k}: final ") for line in lines)
    assert any(line.startswith(f"serendipity@{k}: final ") for line in lines)


def test_the_best_single_generator_is_never_a_final_list_of_another_variant():
    report = report_at(10)
    report["models"]["final@slots"] = {**report["models"]["final"], "ndcg@10": 9.0}
    best = next(line for line in checks(report) if "best single generator" in line)
    assert "final@slots" not in best and "ranker" not in best


def test_a_report_without_intervals_or_gates_still_renders():
    report = report_at(5)
    del report["intervals"], report["gates"]
    assert "| final |" in markdown(report)


def test_figures_at_k5(tmp_path):
    report = report_at(5)
    models = report["models"]
    assert plots.metrics_per_model(models, tmp_path / "metrics.png", 5).stat().st_size > 0
    assert plots.metrics_per_model(models, tmp_path / "bars.png", 5, report["intervals"]).stat().st_size > 0
    percentiles = {name: np.linspace(0, 100, 5) for name in models}
    assert plots.popularity_bias(percentiles, tmp_path / "bias.png", 5).stat().st_size > 0
