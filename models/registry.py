"""Generators by configured name."""

from __future__ import annotations

from conf.settings import ModelsConfig
from models.als import ALSGenerator
from models.base import CandidateGenerator
from models.popularity import TimeDecayedPopularity


def build_generators(cfg: ModelsConfig, seed: int) -> dict[str, CandidateGenerator]:
    builders = {
        "popularity": lambda: TimeDecayedPopularity(cfg.popularity.half_life_days),
        "als": lambda: ALSGenerator(cfg.als, seed),
    }
    return {name: builders[name]() for name in cfg.generators}
