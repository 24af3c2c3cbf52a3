"""What is published, and going back: `movierec versions` and `movierec rollback`.

A version is a run id. The online store says which versions it still holds (the manifest's "held" row)
and which of them went live (each one's "release" row, written when its manifest flipped); the run's
state says what its gates and metrics were and which registered ranker made its lists. Neither needs
Spark, so both answer in about a second.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from conf import Config
from jobs import runs
from jobs.errors import PipelineError
from models.recommend import FINAL

log = logging.getLogger("movierec.versions")


class VersionError(PipelineError):
    """The version asked for cannot be served: unknown, pruned, or never passed its gates."""


@dataclass(frozen=True)
class PublishedVersion:
    version: str
    published_at: str
    live: bool
    gates_passed: bool | None  # None: the run's state is gone
    failed_gates: list[str]
    metrics: dict[str, dict[str, float]]  # variant -> {ndcg@K, coverage@K}
    ranker_version: str | None


def final_list(variant: str, control: str) -> str:
    """The report's name of a variant's final list (jobs/evaluate.py names the control's plainly)."""
    return FINAL if variant == control else f"{FINAL}@{variant}"


def _describe(cfg: Config, version: str, published_at: str, variants: list[str], live: bool) -> PublishedVersion:
    try:
        state = runs.load_state(cfg, version)
    except PipelineError:
        state = {}
    evaluation = state.get("evaluation") or {}
    gates = evaluation.get("gates") or {}
    k = evaluation.get("k", cfg.evaluation.k)
    models = evaluation.get("models", {})
    control = variants[0] if variants else cfg.experiment.control
    metrics = {}
    for variant in variants:
        values = models.get(final_list(variant, control), {})
        metrics[variant] = {m: values[m] for m in (f"ndcg@{k}", f"coverage@{k}") if m in values}
    return PublishedVersion(
        version=version, published_at=published_at, live=live,
        gates_passed=gates.get("passed") if gates else None,
        failed_gates=[c["gate"] for c in gates.get("checks", []) if not c["passed"]],
        metrics=metrics, ranker_version=(state.get("publish") or {}).get("champion_ranker_version"))


def list_versions(cfg: Config, lists=None) -> list[PublishedVersion]:
    """Every version the online store holds that went live, newest first."""
    lists = lists or _lists(cfg)
    live = lists.manifest()
    out = []
    for version in lists.versions():
        release = lists.release(version)
        if release is None:  # written half-way, never served: the next publish prunes it
            continue
        out.append(_describe(cfg, version, release.published_at, list(release.variants),
                             live is not None and live.version == version))
    return sorted(out, key=lambda v: v.published_at, reverse=True)


def rollback(cfg: Config, version: str | None = None) -> dict:
    """Serve `version` again (default: the newest one published before the live one that passed its gates) and
    move the ranker's
    `champion` alias back to the model that made its lists."""
    from jobs.publish import go_live
    from serving.store import write_repo_files

    lists = _lists(cfg)
    live = lists.manifest()
    if live is None:
        raise VersionError("nothing is published yet: there is no version to roll back from")
    retained = list_versions(cfg, lists)
    if version is None:
        current = next(v for v in retained if v.live)
        earlier = [v for v in retained if v.published_at < current.published_at and v.gates_passed]
        if not earlier:
            raise VersionError(f"no retained version that passed its gates was published before the live one "
                               f"({live.version}): nothing to roll back to")
        version = earlier[0].version
    target = next((v for v in retained if v.version == version), None)
    if target is None:
        held = ", ".join(v.version for v in retained) or "none"
        raise VersionError(f"version {version!r} is not retained (pruned, or never published); retained: {held}")
    if target.gates_passed is not True:
        why = "its run's state is gone" if target.gates_passed is None else "failed: " + "; ".join(target.failed_gates)
        raise VersionError(f"version {version} never passed its gates ({why})")
    if target.live:
        return {"version": version, "previous": live.version, "changed": False, "champion_ranker_version": None}
    go_live(lists.store, write_repo_files(cfg), lists.release(version))
    champion = _move_champion(cfg, target.ranker_version)
    log.info("rolled back from %s to %s (ranker champion: %s)", live.version, version, champion)
    return {"version": version, "previous": live.version, "changed": True, "champion_ranker_version": champion}


def _move_champion(cfg: Config, ranker_version: str | None) -> str | None:
    if ranker_version is None:
        return None
    from jobs.tracking import move_champion

    move_champion(cfg, ranker_version)
    return ranker_version


def _lists(cfg: Config):
    from serving.store import OnlineLists, open_store

    if not Path(cfg.feast.repo_dir, "registry.db").exists():
        raise VersionError(f"no Feast registry in {cfg.feast.repo_dir}: nothing has been published there")
    return OnlineLists(open_store(cfg))


def as_rows(versions: list[PublishedVersion]) -> list[dict]:
    return [asdict(v) for v in versions]


def table(versions: list[PublishedVersion]) -> str:
    """`movierec versions` for a terminal: one line per version, the live one starred."""
    if not versions:
        return "no published version is retained"
    header = ["", "version", "published at", "gates", "metrics per variant", "ranker"]
    rows = []
    for v in versions:
        gates = {True: "passed", False: "FAILED", None: "unknown"}[v.gates_passed]
        metrics = "; ".join(f"{variant} " + " ".join(f"{m} {value:.4f}" for m, value in values.items())
                            for variant, values in v.metrics.items())
        rows.append(["*" if v.live else "", v.version, v.published_at[:19], gates, metrics or "-",
                     v.ranker_version or "-"])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *rows])
