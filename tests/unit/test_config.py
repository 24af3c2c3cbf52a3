import pytest
import yaml
from pydantic import BaseModel

from conf import Config, ConfigError, load_config
from conf.settings import CONF_DIR


def test_defaults_load_and_expand_workdir(tmp_path):
    cfg = load_config("local", {"workdir": str(tmp_path)}, environ={})
    assert cfg.lake_root == f"{tmp_path}/lake"
    assert cfg.feast.online_store == "sqlite"
    assert cfg.table_path("silver", "interactions") == f"{tmp_path}/lake/silver/interactions"


def test_environment_variables_override_yaml(tmp_path):
    environ = {"MOVIEREC__SPARK__MASTER": "spark://127.0.0.1:7077", "MOVIEREC__MODELS__ALS__FACTORS": "16"}
    cfg = load_config("local", {"workdir": str(tmp_path)}, environ=environ)
    assert cfg.spark.master == "spark://127.0.0.1:7077"
    assert cfg.models.als.factors == 16


def test_explicit_overrides_beat_environment(tmp_path):
    cfg = load_config("local", {"workdir": str(tmp_path), "seed": 7}, environ={"MOVIEREC__SEED": "3"})
    assert cfg.seed == 7


def test_cluster_environment_switches_engines_by_configuration_only(tmp_path):
    cfg = load_config("cluster", {"workdir": str(tmp_path)}, environ={})
    assert cfg.feast.online_store == "redis"
    assert cfg.spark.master.startswith("spark://")


def test_unknown_key_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="models.als.factorz"):
        load_config("local", {"workdir": str(tmp_path), "models": {"als": {"factorz": 3}}}, environ={})


def test_unknown_environment_names_the_known_ones():
    with pytest.raises(ConfigError, match="known: cluster, local"):
        load_config("staging", environ={})


def test_movielens_source_needs_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="source.data_dir"):
        load_config("local", {"workdir": str(tmp_path), "source": {"kind": "movielens"}}, environ={})


def test_popularity_generator_cannot_be_dropped(tmp_path):
    with pytest.raises(ConfigError, match="must include 'popularity'"):
        load_config("local", {"workdir": str(tmp_path), "models": {"generators": ["als"]}}, environ={})


def _fields(model: type[BaseModel], loaded: BaseModel, raw: dict, path: str = ""):
    """(dotted name, field info, loaded value, present in the YAML) for every field, nested sections included."""
    for name, info in model.model_fields.items():
        value = getattr(loaded, name)
        yield f"{path}{name}", info, value, name in raw
        if isinstance(value, BaseModel) and isinstance(raw.get(name), dict):
            yield from _fields(type(value), value, raw[name], f"{path}{name}.")


def test_base_yaml_holds_every_default_and_the_models_agree_with_it():
    raw = yaml.safe_load((CONF_DIR / "base.yaml").read_text())
    loaded = Config.model_validate({**raw, "env": "base"})
    fields = list(_fields(Config, loaded, raw))
    assert [name for name, _, _, present in fields if not present and name != "env"] == []
    disagree = {name: (info.get_default(call_default_factory=True), value) for name, info, value, _ in fields
                if not info.is_required() and info.get_default(call_default_factory=True) != value}
    assert disagree == {}, "settings.py default vs base.yaml"
