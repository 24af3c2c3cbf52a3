"""The evaluation report's figures as PNG files (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

METRICS_SHOWN = ("ndcg", "recall", "map", "coverage", "serendipity")


def error_bars(values: list[float], bounds: list[list[float] | None]) -> np.ndarray:
    """(2, n) distances below and above each value for matplotlib's xerr; 0 where there is no interval. Clipped
    at 0: a percentile interval of a skewed metric need not contain its point value."""
    lo = [value - b[0] if b else 0.0 for value, b in zip(values, bounds)]
    hi = [b[1] - value if b else 0.0 for value, b in zip(values, bounds)]
    return np.maximum(np.array([lo, hi], dtype=float), 0.0)


def metrics_per_model(models: dict[str, dict], path: Path, k: int,
                      intervals: dict[str, dict[str, list[float] | None]] | None = None) -> Path:
    """One bar per list and metric, with its bootstrap interval as an error bar when `intervals` has one."""
    names = list(models)
    intervals = intervals or {}
    shown = [f"{m}@{k}" for m in METRICS_SHOWN if all(f"{m}@{k}" in models[n] for n in names)]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 4), squeeze=False)
    for ax, metric in zip(axes[0], shown):
        values = [models[n][metric] for n in names]
        bounds = [intervals.get(n, {}).get(metric) for n in names]
        ax.barh(names, values, xerr=error_bars(values, bounds), capsize=2, error_kw={"elinewidth": 0.8},
                color=["#c0392b" if n == "final" else "#7f8c8d" for n in names])
        ax.set_title(metric)
        ax.invert_yaxis()
    has_bars = any(intervals.get(n) for n in names)
    fig.suptitle("Metrics per model (eval split" + (", 95% bootstrap intervals)" if has_bars else ")"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def popularity_bias(percentiles: dict[str, np.ndarray], path: Path, k: int) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    names = list(percentiles)
    ax.boxplot([percentiles[n] for n in names], vert=False, showfliers=False)
    ax.set_yticks(range(1, len(names) + 1), names)
    ax.set_xlabel(f"popularity percentile of recommended items (top-{k}; 100 = most popular)")
    ax.set_title("Popularity bias of the lists")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def coverage_curves(curves: dict[str, list[float]], ks: list[int], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        ax.plot(ks, values, label=name, linewidth=2.5 if name == "final" else 1.2)
    ax.set_xlabel("list length k")
    ax.set_ylabel("catalog coverage@k")
    ax.set_title("Coverage curve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
