"""The one configuration object.

`base.yaml` is merged with one environment file (`local.yaml`, `cluster.yaml`, ...), then
with `MOVIEREC__SECTION__KEY=value` environment variables, then with explicit overrides
(CLI flags). Unknown keys are rejected so a typo fails loudly instead of being ignored.
This module is the only place that reads YAML or environment variables.

`base.yaml` holds every default. A default written here as well (so that a section built directly,
e.g. `RerankConfig(...)` in a test, behaves like a loaded one) must equal base.yaml's value:
tests/unit/test_config.py fails on any that disagree, and on any field base.yaml leaves out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from collections.abc import Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONF_DIR = Path(__file__).resolve().parent
ENV_PREFIX = "MOVIEREC__"


class ConfigError(ValueError):
    """The configuration cannot be loaded; the message names the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConfig(_Strict):
    master: str = "local[*]"
    app_name: str = "movierec"
    driver_memory: str = "4g"
    python_executable: str | None = None  # the workers' Python; default: the driver's interpreter
    conf: dict[str, str]


class SourceConfig(_Strict):
    kind: Literal["synthetic", "movielens", "files"] = "synthetic"
    data_dir: str | None = None
    tmdb_dir: str | None = None
    events_dir: str | None = None    # files: event logs (.jsonl/.json, .csv, .parquet), optionally in dt=YYYY-MM-DD folders
    movies_path: str | None = None   # files: TMDB JSON lines, or a folder with the TMDB 5000 CSVs
    users_path: str | None = None    # files: user JSON lines (optional: users then come from the events)
    # The daily ingest also fetches TMDB's movie changes since the TMDB watermark (credentials from
    # TMDB_API_KEY or TMDB_ACCESS_TOKEN). For catalogs keyed by TMDB id: synthetic and files.
    tmdb_changes: bool = False
    tmdb_base_url: str = "https://api.themoviedb.org/3"
    tmdb_include_adult: bool = False

    @model_validator(mode="after")
    def _source_needs_its_paths(self) -> SourceConfig:
        if self.tmdb_changes and self.kind == "movielens":
            raise ValueError("source.tmdb_changes needs a catalog keyed by TMDB id; MovieLens ids are not "
                             "(its TMDB metadata comes through links.csv and source.tmdb_dir)")
        if self.kind == "movielens" and not self.data_dir:
            raise ValueError("source.kind=movielens needs source.data_dir (the MovieLens folder)")
        if self.kind == "files" and not (self.events_dir and self.movies_path):
            raise ValueError("source.kind=files needs source.events_dir and source.movies_path")
        return self


class SyntheticConfig(_Strict):
    users: int = Field(2000, gt=0)
    movies: int = Field(800, gt=0)
    events_per_user: int = Field(40, gt=0)
    days: int = Field(180, gt=1)
    start_date: str = "2026-01-01"
    late_user_share: float = Field(0.1, ge=0, lt=1)
    late_movie_share: float = Field(0.08, ge=0, lt=1)


class FeastConfig(_Strict):
    repo_dir: str
    project: str = "movierec"
    online_store: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: str
    redis_connection: str = "localhost:6379"
    windows_days: list[int] = Field(default_factory=lambda: [7, 30, 90], min_length=1)  # activity counted over each

    @field_validator("windows_days")
    @classmethod
    def _positive_windows(cls, value: list[int]) -> list[int]:
        if any(w <= 0 for w in value) or len(set(value)) != len(value):
            raise ValueError(f"windows_days must be distinct positive day counts, not {value}")
        return sorted(value)


class ContractsConfig(_Strict):
    """Batch-level limits: beyond them the ingest stops before silver is written."""

    max_quarantine_share: float = Field(0.5, ge=0, le=1)  # more bad rows than this means a broken feed or schema drift
    min_volume_ratio: float = Field(0.2, ge=0, le=1)      # rows landing vs the table's previous batch: below = collapse
    max_event_lag_days: float = Field(3.0, ge=0)           # a day's log with no event this close to its day is stale


class MlflowConfig(_Strict):
    tracking_uri: str
    artifact_location: str
    experiment: str = "movierec"


class InteractionsConfig(_Strict):
    weights: dict[str, float]
    rating_weight: float = 1.0
    positive_event_types: list[str] = Field(default_factory=lambda: ["click", "watch"])
    min_relevant_rating: float = 4.0


class EvaluationConfig(_Strict):
    k: int = Field(10, gt=0)
    protocol: Literal["temporal", "leave_one_out"] = "temporal"   # see models/split.py
    test_fraction: float = Field(0.2, gt=0, lt=1)
    min_train_events: int = Field(1, ge=1)
    min_relevant_test_events: int = Field(1, ge=1)
    max_users: int = Field(50000, gt=0)           # a seeded sample of the eligible users beyond this many
    bootstrap_samples: int = Field(200, ge=20)    # resamples of the users behind each 95% interval; fewer leave no tails


class PopularityConfig(_Strict):
    # None: no decay. A 30-day half-life lost a third of NDCG@10 on both MovieLens evaluation splits (README, Models).
    half_life_days: float | None = Field(None, gt=0)


class AlsConfig(_Strict):
    factors: int = Field(32, gt=0)
    regularization: float = Field(0.1, ge=0)
    iterations: int = Field(15, gt=0)
    alpha: float = Field(10.0, gt=0)


class TrendingConfig(_Strict):
    window_days: float = Field(7.0, gt=0)       # "this week"
    baseline_days: float = Field(28.0, gt=0)    # growth is measured against the rate over this longer window
    min_viewers: int = Field(3, ge=1)


class EaseConfig(_Strict):
    l2: float = Field(250.0, gt=0)
    min_item_users: int = Field(2, ge=1)        # the item-item matrix covers items with at least this many users
    max_items: int = Field(10000, gt=0)         # memory cap: n^2 float32


class ContentConfig(_Strict):
    max_features: int = Field(30000, gt=0)
    history: int = Field(50, gt=0)              # most recent positive items in the user's profile
    half_life_days: float = Field(180.0, gt=0)  # older watches weigh less in the profile


class TwoTowerConfig(_Strict):
    dim: int = Field(48, gt=0)
    content_dim: int = Field(48, gt=0)          # SVD of the TF-IDF text, input of the item tower
    history: int = Field(20, gt=0)
    epochs: int = Field(4, gt=0)
    batch_size: int = Field(512, gt=0)
    learning_rate: float = Field(0.005, gt=0)
    temperature: float = Field(0.1, gt=0)
    samples_per_user: int = Field(40, gt=0)     # training targets drawn from each user's sequence per epoch
    id_dropout: float = Field(0.3, ge=0, lt=1)  # teaches the item tower to work from content alone (cold items)
    max_train_users: int = Field(50000, gt=0)   # seeded sample whose sequences train the towers; every user gets a vector
    max_samples_per_epoch: int = Field(400000, gt=0)  # caps training steps: fit cost stops growing with users


class SasRecConfig(_Strict):
    dim: int = Field(64, gt=0)
    layers: int = Field(2, gt=0)
    heads: int = Field(1, gt=0)
    dropout: float = Field(0.2, ge=0, lt=1)
    max_len: int = Field(100, gt=0)             # the user's last items the network reads (training and scoring)
    epochs: int = Field(4, gt=0)
    batch_size: int = Field(16, gt=0)           # 8x the steps of 128 an epoch at the same cost: learns in 4 epochs, not 30 (README)
    learning_rate: float = Field(0.005, gt=0)
    full_softmax_items: int = Field(10000, gt=0)  # catalogues up to this size: cross-entropy over every item
    negatives: int = Field(1024, gt=0)          # larger catalogues: items sampled per batch for a sampled softmax
    max_train_users: int = Field(20000, gt=0)   # seeded sample of users whose sequences train it; every user is scored
    refit: bool = False                         # false: the eval and full splits score with stage 1's network (one fit)

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> SasRecConfig:
        if self.dim % self.heads:
            raise ValueError(f"sasrec.dim ({self.dim}) must be a multiple of sasrec.heads ({self.heads})")
        return self


class TimeAwareConfig(_Strict):
    window: int = Field(5, gt=0)                # transitions i -> j count for j up to `window` steps after i
    decay: float = Field(0.7, gt=0, le=1)       # weight of the k-th next step: decay ** (k - 1)
    recent: int = Field(10, gt=0)               # how many of the user's last items seed the scores
    recency_decay: float = Field(0.8, gt=0, le=1)


class RankerConfig(_Strict):
    enabled: bool = True
    label_fraction: float = Field(0.2, gt=0, lt=1)  # each user's last share of training events labels the ranker
    max_users: int = Field(3000, gt=0)              # users sampled for the ranker's training set
    n_estimators: int = Field(300, gt=0)
    max_depth: int = Field(4, gt=0)
    learning_rate: float = Field(0.05, gt=0)
    min_child_weight: float = Field(5.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    pairs_per_candidate: int = Field(40, gt=0)      # lambdarank pairs: each of the predicted top this many against the rest
    num_workers: int = Field(2, gt=0)               # Spark tasks that train it together
    store_features: bool = True                     # also the users' feature-store values, joined point-in-time
    max_candidates: int = Field(0, ge=0)            # per user, the best by rank fusion that the ranker scores; 0 = all
    refit_on_full: bool = False                     # full split: refit stage 1 and the ranker instead of shipping eval's


class SlotsConfig(_Strict):
    similar: float = Field(0.5, ge=0)
    diverse: float = Field(0.3, ge=0)
    trending: float = Field(0.2, ge=0)


class RerankConfig(_Strict):
    mmr_lambda: float = Field(0.9, ge=0, le=1)      # 1 = pure relevance, 0 = pure diversity
    freshness_boost: float = Field(0.05, ge=0)      # added to the normalised score of new releases
    popularity_penalty: float = Field(0.3, ge=0)    # subtracted x the item's popularity percentile (0-1): long tail
    new_release_days: float = Field(365.0, gt=0)
    strategy: Literal["mmr", "slots"] = "mmr"
    slots: SlotsConfig = SlotsConfig()
    exclude_genres: list[str] = Field(default_factory=list)
    adult_min_age: int = Field(18, ge=0)            # adult titles only for users known to be at least this old


class AlsTuningConfig(_Strict):
    """Grid searched on the ranker's label window; the best NDCG wins. Empty = use `als` as configured."""

    factors: list[int] = Field(default_factory=lambda: [32, 64])
    regularization: list[float] = Field(default_factory=lambda: [0.1, 1.0])
    max_users: int = Field(50000, gt=0)   # the grid is fitted on a seeded sample of this many users


class SegmentsConfig(_Strict):
    """Lists for users known only by their profile (silver.users): one per segment, for users with no events,
    and one per genre (and age band) for onboarding requests that name genres (models/segments.py)."""

    enabled: bool = True
    attributes: list[str] = Field(default_factory=lambda: ["gender", "age"])  # silver.users columns; age is banded
    age_bands: list[int] = Field(default_factory=lambda: [18, 25, 35, 45, 56])  # band edges: <18, 18-24, ..., 56+
    shrinkage: float | None = Field(None, ge=0)  # pseudo-events of overall popularity in each segment; None: chosen on held-out users

    @field_validator("age_bands")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(b <= a for a, b in zip(value, value[1:])) or any(v <= 0 for v in value):
            raise ValueError(f"age_bands must be increasing positive ages, not {value}")
        return value


GENERATORS = ("popularity", "trending", "als", "ease", "content", "two_tower", "time_aware", "sasrec")


class ModelsConfig(_Strict):
    generators: list[Literal[GENERATORS]] = Field(default_factory=lambda: list(GENERATORS), min_length=1)
    candidates_per_generator: int = Field(100, gt=0)
    final_list_size: int = Field(50, gt=0)
    popularity: PopularityConfig = PopularityConfig()
    trending: TrendingConfig = TrendingConfig()
    als: AlsConfig = AlsConfig()
    als_tuning: AlsTuningConfig = AlsTuningConfig()
    ease: EaseConfig = EaseConfig()
    content: ContentConfig = ContentConfig()
    two_tower: TwoTowerConfig = TwoTowerConfig()
    time_aware: TimeAwareConfig = TimeAwareConfig()
    sasrec: SasRecConfig = SasRecConfig()
    ranker: RankerConfig = RankerConfig()
    rerank: RerankConfig = RerankConfig()
    segments: SegmentsConfig = SegmentsConfig()

    @model_validator(mode="after")
    def _popularity_is_required(self) -> ModelsConfig:
        if "popularity" not in self.generators:
            raise ValueError("generators must include 'popularity': it is the fallback list and the serendipity baseline")
        return self


class GatesConfig(_Strict):
    min: dict[str, float]
    min_ndcg_vs_popularity: float = Field(1.0, ge=0)
    min_ndcg_vs_best_generator: float | None = Field(1.0, ge=0)  # None: no gate against the best single generator


class VariantConfig(_Strict):
    weight: float = Field(1.0, gt=0)                # share of users, relative to the other variants' weights
    rerank: dict[str, Any] = Field(default_factory=dict)  # overrides of models.rerank for this variant's lists


class ExperimentConfig(_Strict):
    """An A/B test over reranking: every variant's lists are published side by side, and a hash of
    (experiment name, user id) picks the one a user is served. The first variant is the control:
    its lists are the ones evaluated as `final`; the others are evaluated as `final@<variant>`."""

    name: str
    variants: dict[str, VariantConfig] = Field(min_length=1)
    # The readout (movierec experiment report, jobs/experiments/report.py):
    primary_metric: Literal["click_through", "watches_of_shown", "watch_hours_of_shown"] = "watches_of_shown"
    window_days: float = Field(7.0, gt=0)               # an event counts for a list shown at most this long before it
    pre_days: float = Field(28.0, gt=0)                 # CUPED's covariate: the same behaviour this long before exposure
    min_detectable_effect: float = Field(0.02, gt=0)    # relative to control: the smallest lift worth shipping
    max_days: float = Field(28.0, gt=0)                 # the longest the experiment may run before it is called
    alpha: float = Field(0.05, gt=0, lt=1)
    # The readout also post-stratifies by this: "activity" (terciles of the primary metric's pre-period value) or a
    # column of silver.users (e.g. gender, age). Assignment needs no strata: the hash is independent of every user
    # attribute, so each stratum splits by the weights (tests/unit/test_variants.py).
    strata: str = "activity"

    @model_validator(mode="after")
    def _names_are_keys(self) -> ExperimentConfig:
        for name in self.variants:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"variant name {name!r}: use letters, digits, '-' and '_' only")
        return self

    @property
    def control(self) -> str:
        return next(iter(self.variants))


class ServingConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = 8000
    default_k: int = Field(20, gt=0)
    max_k: int = Field(50, gt=0)
    similar_k: int = Field(20, gt=0)               # neighbours published per movie
    manifest_ttl_seconds: float = Field(5.0, gt=0)             # how often each API process re-reads what is live
    store_timeout_ms: float = Field(50.0, gt=0)    # slower store reads are answered from the fallback cache
    api_key: str | None = None                     # when set, requests need it in the X-API-Key header
    cors_origins: list[str] = Field(default_factory=list)
    # Placements a client may name (a metrics label).
    contexts: list[str] = Field(default_factory=lambda: ["home", "detail", "search", "email"])
    poster_base_url: str = "https://image.tmdb.org/t/p/w185"   # baked into the published items at publish time
    workers: int = Field(0, ge=0)                  # API processes, shared-nothing; 0: one per core
    # Where each served list is logged (day-partitioned JSON lines; ingest lands them in silver.exposures);
    # null: no exposure log.
    exposure_log: str | None
    exposure_flush_seconds: float = Field(1.0, gt=0)
    exposure_max_buffer: int = Field(100_000, gt=0)   # records held while the sink fails or hangs; newer ones are dropped

    @model_validator(mode="after")
    def _default_k_fits(self) -> ServingConfig:
        if self.default_k > self.max_k:
            raise ValueError(f"serving.default_k ({self.default_k}) is above serving.max_k ({self.max_k})")
        return self


class PublishConfig(_Strict):
    # Keys per chunk streamed from Spark to the driver, which holds one chunk: a list row with its 50 items'
    # card fields is some 15 KB in pandas (bench/publish.py: 5000 was no slower than 20000).
    chunk_rows: int = Field(5000, gt=0)
    # Rows per write to the online store: one SQLite statement or Redis pipeline, whose encoded values it holds.
    write_rows: int = Field(1000, gt=0)
    # Versions left in the online store after a publish, newest first; the live one and its predecessor (what a
    # reader with a stale manifest still reads) always stay.
    keep_versions: int = Field(3, ge=2)


class RetentionConfig(_Strict):
    # What a run leaves (its folder, MLflow runs and models, gold rows, its validation results) goes this many
    # days after it last wrote its state, unless the online store still holds its version (rollback needs it).
    days: float = Field(30.0, ge=0)
    # Delta VACUUM and log expiry keep this window, widened to the oldest kept run's age, so every kept run's
    # pinned silver snapshots still time-travel. They run at most this often (null: never).
    vacuum_every_hours: float | None = Field(24.0, ge=0)


class Config(_Strict):
    env: str  # the environment file's name, set by load_config
    workdir: str
    lake_root: str
    runs_dir: str
    seed: int = 42
    spark: SparkConfig
    source: SourceConfig
    synthetic: SyntheticConfig
    feast: FeastConfig
    contracts: ContractsConfig = ContractsConfig()
    mlflow: MlflowConfig
    interactions: InteractionsConfig
    evaluation: EvaluationConfig
    models: ModelsConfig
    gates: GatesConfig
    experiment: ExperimentConfig
    serving: ServingConfig
    publish: PublishConfig = PublishConfig()
    retention: RetentionConfig = RetentionConfig()

    @model_validator(mode="after")
    def _variants_fit_rerank(self) -> Config:
        for name in self.experiment.variants:
            try:
                self.variant_rerank(name)
            except ValidationError as exc:
                raise ValueError(f"experiment.variants.{name}.rerank: {exc.errors()[0]['msg']}") from exc
        return self

    def variant_rerank(self, name: str) -> RerankConfig:
        """models.rerank with the variant's overrides."""
        overrides = self.experiment.variants[name].rerank
        return RerankConfig.model_validate(_deep_merge(self.models.rerank.model_dump(), overrides)) if overrides else self.models.rerank

    def table_path(self, layer: str, name: str) -> str:
        """Location of the Delta table `layer/name` under the lake root."""
        return f"{self.lake_root.rstrip('/')}/{layer}/{name}"

    @property
    def validations_dir(self) -> Path:
        """Data-contract results, one folder per ingested batch."""
        return Path(self.workdir) / "validations"

    def run_dir(self, run_id: str) -> Path:
        return Path(self.runs_dir) / run_id


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`MOVIEREC__SPARK__MASTER=x` -> {"spark": {"master": "x"}}; values are parsed as YAML scalars."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw else raw
    return tree


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _expand_workdir(node: Any, workdir: str) -> Any:
    if isinstance(node, str):
        return node.replace("{workdir}", workdir)
    if isinstance(node, dict):
        return {key: _expand_workdir(value, workdir) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand_workdir(value, workdir) for value in node]
    return node


def load_config(
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    conf_dir: Path = CONF_DIR,
) -> Config:
    """Build the Config for `env` (default: $MOVIEREC_ENV or "local").

    Precedence, lowest first: base.yaml, <env>.yaml, MOVIEREC__* variables, `overrides`.
    `overrides` is a nested mapping, e.g. {"source": {"kind": "movielens"}}.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get("MOVIEREC_ENV", "local")
    raw = _read_yaml(conf_dir / "base.yaml")
    env_file = conf_dir / f"{env}.yaml"
    if not env_file.exists():
        known = sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != "base")
        raise ConfigError(f"unknown environment '{env}': no {env_file.name}; known: {', '.join(known)}")
    raw = _deep_merge(raw, _read_yaml(env_file))
    raw = _deep_merge(raw, _env_overrides(environ))
    raw = _deep_merge(raw, overrides or {})
    workdir = str(Path(raw.get("workdir", ".workdir")).expanduser().resolve())
    raw["workdir"] = workdir
    raw["env"] = env
    try:
        return Config.model_validate(_expand_workdir(raw, workdir))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration ({env}): {problems}") from exc
