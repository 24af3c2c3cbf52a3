"""`movierec versions` and `movierec rollback` on a real SQLite online store and MLflow registry: what is
listed, what a rollback flips (manifest and champion), and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import runs
from jobs.cli import main
from jobs.publish import write_version
from jobs.tracking import CHAMPION, RANKER_MODEL
from jobs.versions import VersionError, list_versions, rollback
from serving.store import OnlineLists, open_store
from tests.conftest import renamed, tiny_config

pytestmark = pytest.mark.spark


def _store_config(tmp_path: Path, keep_versions: int = 3):
    """A workdir of its own (run states, MLflow) and a store of its own: the session's published run stays as it is."""
    return tiny_config(tmp_path, publish={"keep_versions": keep_versions})


def _register_rankers(cfg, count: int) -> list[str]:
    """`count` registered versions of the ranker, as publishes leave them (the model files are not read here)."""
    from jobs.tracking import _mlflow

    client = _mlflow(cfg).MlflowClient()
    client.create_registered_model(RANKER_MODEL)
    return [client.create_model_version(RANKER_MODEL, source=str(cfg.workdir)).version for _ in range(count)]


def _release(cfg, staged, published_state: dict, name: str, passed: bool = True, ranker: str | None = None) -> None:
    """Publish the tiny run's rows as version `name` with a run state saying how its gates went."""
    evaluation = dict(published_state["evaluation"])
    evaluation["gates"] = {"passed": passed, "checks": [{"gate": "ndcg@10 >= 0.5", "passed": passed}]}
    runs.update_state(cfg, name, evaluation=evaluation, publish={"champion_ranker_version": ranker})
    write_version(cfg, renamed(staged, name))


def _champion(cfg) -> str:
    from jobs.tracking import _mlflow

    return _mlflow(cfg).MlflowClient().get_model_version_by_alias(RANKER_MODEL, CHAMPION).version


def _live(cfg) -> str:
    return OnlineLists(open_store(cfg)).manifest().version


def test_versions_lists_what_went_live_and_rollback_flips_manifest_and_champion(published, staged, tmp_path, capsys):
    published_cfg, _ = published
    state = runs.load_state(published_cfg, "tiny-run")
    cfg = _store_config(tmp_path)
    one, three = _register_rankers(cfg, 2)
    _release(cfg, staged, state, "v1", ranker=one)
    _release(cfg, staged, state, "v2", passed=False)  # as if forced out by hand: never passed its gates
    _release(cfg, staged, state, "v3", ranker=three)
    from jobs.tracking import move_champion

    move_champion(cfg, three)

    listed = list_versions(cfg)
    assert [v.version for v in listed] == ["v3", "v2", "v1"]
    assert [v.live for v in listed] == [True, False, False]
    assert [v.gates_passed for v in listed] == [True, False, True]
    final = state["evaluation"]["models"]["final"]
    control = cfg.experiment.control
    assert listed[0].metrics[control] == {"ndcg@10": final["ndcg@10"], "coverage@10": final["coverage@10"]}
    assert set(listed[0].metrics) == set(cfg.experiment.variants)

    # The default skips v2, which never passed its gates, and asking for it by name is refused.
    assert rollback(cfg)["version"] == "v1"
    assert _live(cfg) == "v1" and _champion(cfg) == one
    with pytest.raises(VersionError, match="never passed its gates"):
        rollback(cfg, "v2")
    assert rollback(cfg, "v3")["previous"] == "v1"
    assert _live(cfg) == "v3" and _champion(cfg) == three

    args = ["--env", "local", "--workdir", cfg.workdir, "--set", "publish.keep_versions=3"]
    assert main(["versions", "--json", *args]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["live"], v["ranker_version"]) for v in printed] == [("v3", True, three), ("v2", False, None),
                                                                                ("v1", False, one)]
    assert main(["versions", *args]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("*  v3")


def test_rollback_refuses_a_pruned_or_unknown_version_with_one_line(published, staged, tmp_path, capsys):
    published_cfg, _ = published
    state = runs.load_state(published_cfg, "tiny-run")
    cfg = _store_config(tmp_path, keep_versions=2)
    for name in ("v1", "v2", "v3", "v4"):
        _release(cfg, staged, state, name)
    assert [v.version for v in list_versions(cfg)] == ["v4", "v3"]
    args = ["--env", "local", "--workdir", cfg.workdir, "--set", "publish.keep_versions=2"]
    for version in ("v1", "no-such-run"):
        assert main(["rollback", version, *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"version '{version}' is not retained" in err[0], err
    assert _live(cfg) == "v4"
    assert main(["rollback", *args]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v3"


def test_rollback_with_nothing_published_is_a_clear_error(tmp_path, capsys):
    assert main(["rollback", "--env", "local", "--workdir", str(tmp_path)]) == 2
    assert "nothing has been published" in capsys.readouterr().err
