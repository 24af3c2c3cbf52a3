"""The score step's published split leaves out the experiment arms evaluation withheld."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import tiny_config
from data_contracts import columns as S
from jobs import runs
from jobs.score import read_lists, score


def test_the_published_split_skips_the_arms_evaluation_withheld(published, spark, tmp_path):
    """Publish drops a withheld arm's lists, so scoring them for every user would be wasted: the full split
    writes the control's lists (and every arm's again once nothing is withheld)."""
    source_cfg, _ = published
    cfg = tiny_config(Path(source_cfg.workdir), lake_root=str(tmp_path / "lake"), runs_dir=str(tmp_path / "runs"))
    shutil.copytree(source_cfg.run_dir("tiny-run"), cfg.run_dir("tiny-run"))
    state = runs.load_state(cfg, "tiny-run")
    state["evaluation"]["gates"]["withheld"] = ["slots"]
    runs.state_path(cfg, "tiny-run").write_text(json.dumps(state))

    def list_names() -> set[str]:
        frame = read_lists(cfg, spark, "tiny-run", "full", "ranked_lists")
        return {row[S.LIST_NAME] for row in frame.select(S.LIST_NAME).distinct().collect()}

    score(cfg, spark, "tiny-run", "full")
    assert list_names() == {"final"}
    state["evaluation"]["gates"]["withheld"] = []
    runs.state_path(cfg, "tiny-run").write_text(json.dumps(state))
    score(cfg, spark, "tiny-run", "full")
    assert list_names() == {"final", "final@slots"}
