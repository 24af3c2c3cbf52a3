"""Generators by configured name."""

from __future__ import annotations

from conf.settings import ModelsConfig
from models.als import ALSGenerator
from models.base import CandidateGenerator
from models.content import ContentTfidf
from models.ease import EASE
from models.popularity import Popularity
from models.sasrec import SasRec
from models.time_aware import TimeAwareTransitions
from models.trending import Trending
from models.two_tower import TwoTower

# Always fitted and reported, whether or not it feeds the ranker: the bar the final lists must clear.
REFERENCE = "ease"


def build_generator(name: str, cfg: ModelsConfig, seed: int) -> CandidateGenerator:
    builders = {
        "popularity": lambda: Popularity(cfg.popularity.half_life_days),
        "trending": lambda: Trending(cfg.trending),
        "als": lambda: ALSGenerator(cfg.als, seed),
        "ease": lambda: EASE(cfg.ease),
        "content": lambda: ContentTfidf(cfg.content),
        "two_tower": lambda: TwoTower(cfg.two_tower, seed),
        "time_aware": lambda: TimeAwareTransitions(cfg.time_aware),
        "sasrec": lambda: SasRec(cfg.sasrec, seed),
    }
    return builders[name]()
