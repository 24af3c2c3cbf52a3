"""The evaluation report as Markdown a person can read: every model side by side, then the headline checks."""

from __future__ import annotations

from models.recommend import FINAL, RANKER

def is_single_generator(name: str) -> bool:
    """Not the ranker's order, nor a final list of any experiment variant (`final`, `final@<variant>`)."""
    return name != RANKER and name != FINAL and not name.startswith(f"{FINAL}@")


def best_single(models: dict[str, dict], ndcg: str) -> str:
    """The generator (or reference model) whose own list has the highest NDCG: what a system that merges and
    reranks them all must at least match."""
    return max((n for n in models if is_single_generator(n) and ndcg in models[n]), key=lambda n: models[n][ndcg])


def columns(k: int) -> list[str]:
    """The report's metric columns at cutoff `k` (evaluate also scores 2k for NDCG and recall)."""
    return [f"ndcg@{k}", f"recall@{k}", f"precision@{k}", f"map@{k}", f"hit_rate@{k}", f"ndcg@{2 * k}",
            f"recall@{2 * k}", f"coverage@{k}", f"serendipity@{k}", f"novelty@{k}", f"diversity@{k}",
            "cold_item_recall@100", f"new_release_share@{k}"]


def _cell(values: dict, metric: str) -> str:
    value = values.get(metric)
    return "-" if value is None else f"{value:.4f}"


def _interval_cell(bounds: dict, metric: str) -> str:
    interval = bounds.get(metric)
    return "-" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def interval_table(report: dict, shown: list[str]) -> list[str]:
    """The metrics' bootstrap intervals, laid out like the table of values; none in a report without them."""
    intervals = report.get("intervals")
    if not intervals:
        return []
    lines = ["", f"Intervals: {report['protocol'].get('intervals', 'bootstrap over the evaluated users')}.", "",
             "| model | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for name in report["models"]:
        lines.append(f"| {name} | " + " | ".join(_interval_cell(intervals.get(name, {}), m) for m in shown) + " |")
    return lines


def gate_lines(report: dict) -> list[str]:
    gates = report.get("gates")
    if not gates:
        return []
    lines = ["", f"Gates: {'passed' if gates['passed'] else 'FAILED'}", ""]
    if gates.get("withheld"):
        lines[-1:-1] = [f"Withheld (failed their gates; their users get the control's lists): {', '.join(gates['withheld'])}"]
    for check in gates["checks"]:
        value = "-" if check.get("value") is None else f"{check['value']:.4f}"
        interval = check.get("interval")
        paired = "" if interval is None else f"; difference {check['difference']:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"
        lines.append(f"- {'pass' if check['passed'] else 'FAIL'}: {check['gate']}: {value}{paired}")
    return lines


def markdown(report: dict) -> str:
    models, timing = report["models"], report.get("timing", {})
    fit, score = timing.get("fit_seconds", {}), timing.get("score_ms_per_user", {})
    shown = columns(report["k"])
    protocol = report["protocol"]
    lines = [f"# Evaluation of run {report['run_id']}", "", protocol["split"], "",
             *([protocol["users"], ""] if "users" in protocol else []),
             "| model | fit s | ms/user | " + " | ".join(shown) + " | users |",
             "|---" * (len(shown) + 4) + "|"]
    for name, values in models.items():
        lines.append(f"| {name} | {fit.get(name, '-')} | {score.get(name, '-')} | "
                     + " | ".join(_cell(values, m) for m in shown) + f" | {values.get('users', '-')} |")
    lines += interval_table(report, shown)
    lines += ["", *(f"- {line}" for line in checks(report))]
    lines += gate_lines(report)
    return "\n".join(lines) + "\n"


def checks(report: dict) -> list[str]:
    """The comparisons the ranking work is judged by, all from this one run."""
    models, k = report["models"], report["k"]
    final = models["final"]
    ndcg, coverage, serendipity = f"ndcg@{k}", f"coverage@{k}", f"serendipity@{k}"
    best = best_single(models, ndcg)
    out = []
    if models.get("ease", {}).get(ndcg):
        out.append(f"final NDCG@{k} / EASE: {final[ndcg] / models['ease'][ndcg]:.3f}x")
    out.append(f"final NDCG@{k} / best single generator ({best}): {final[ndcg] / models[best][ndcg]:.3f}x")
    if "als" in models:
        out.append(f"{coverage}: final {final[coverage]:.4f}, ALS {models['als'][coverage]:.4f}")
    out.append(f"{serendipity}: final {final[serendipity]:.4f}, popularity {models['popularity'][serendipity]:.4f}")
    cold = {m: models[m].get("cold_item_recall@100") for m in ("content", "two_tower") if m in models}
    out.append(f"cold-item recall@100: {cold}; merged candidates: {report.get('candidates')}")
    if f"new_release_share@{k}" in final:
        out.append(f"lists with a movie released in the last 30 days in their top {k}: final "
                   f"{final[f'new_release_share@{k}']:.4f}, popularity {models['popularity'].get(f'new_release_share@{k}', 0):.4f}")
    new_users = dict(report.get("new_users") or {})
    segments = new_users.pop("segments", None)
    out.append(f"new users: {new_users}")
    if segments:
        out.append(f"segment lists ({' x '.join(segments['attributes'])}, {segments['segments']} segments, shrinkage "
                   f"{segments.get('shrinkage')}), as if new: "
                   f"NDCG@{k} {segments[f'ndcg@{k}_as_if_new']:.4f}, {segments['vs_popularity']}x popularity, "
                   f"{segments['vs_fallback']}x the fallback ({segments['users_with_a_segment']} evaluated users with a segment)")
    return out
