"""The evaluation report as Markdown a person can read: every model side by side, then the headline checks."""

from __future__ import annotations

from models.recommend import FINAL, RANKER

COLUMNS = ["ndcg@10", "recall@10", "precision@10", "map@10", "hit_rate@10", "ndcg@20", "recall@20", "coverage@10",
           "serendipity@10", "novelty@10", "diversity@10", "cold_item_recall@100"]
NOT_SINGLE = {RANKER, FINAL}


def _cell(values: dict, metric: str) -> str:
    value = values.get(metric)
    return "-" if value is None else f"{value:.4f}"


def markdown(report: dict) -> str:
    models, timing = report["models"], report.get("timing", {})
    fit, score = timing.get("fit_seconds", {}), timing.get("score_ms_per_user", {})
    lines = [f"# Evaluation of run {report['run_id']}", "", report["protocol"]["split"], "",
             "| model | fit s | ms/user | " + " | ".join(COLUMNS) + " | users |",
             "|---" * (len(COLUMNS) + 4) + "|"]
    for name, values in models.items():
        lines.append(f"| {name} | {fit.get(name, '-')} | {score.get(name, '-')} | "
                     + " | ".join(_cell(values, m) for m in COLUMNS) + f" | {values.get('users', '-')} |")
    lines += ["", *(f"- {line}" for line in checks(report))]
    return "\n".join(lines) + "\n"


def checks(report: dict) -> list[str]:
    """The comparisons the ranking work is judged by, all from this one run."""
    models = report["models"]
    final = models["final"]
    singles = {m: v["ndcg@10"] for m, v in models.items() if m not in NOT_SINGLE}
    best = max(singles, key=singles.get)
    out = []
    if models.get("ease", {}).get("ndcg@10"):
        out.append(f"final NDCG@10 / EASE: {final['ndcg@10'] / models['ease']['ndcg@10']:.3f}x")
    out.append(f"final NDCG@10 / best single generator ({best}): {final['ndcg@10'] / singles[best]:.3f}x")
    if "als" in models:
        out.append(f"coverage@10: final {final['coverage@10']:.4f}, ALS {models['als']['coverage@10']:.4f}")
    out.append(f"serendipity@10: final {final['serendipity@10']:.4f}, popularity {models['popularity']['serendipity@10']:.4f}")
    cold = {m: models[m].get("cold_item_recall@100") for m in ("content", "two_tower") if m in models}
    out.append(f"cold-item recall@100: {cold}; merged candidates: {report.get('candidates')}")
    out.append(f"new users: {report.get('new_users')}")
    return out
