import json
from pathlib import Path

import pytest

from ps_server.config import (
    OPTIMIZER_DEFAULTS,
    InitializerConfig,
    InitializerKind,
    OptimizerConfig,
    OptimizerKind,
    PullDType,
    TableConfig,
    TablesConfig,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "ps_server" / "examples" / "tables.json"


def _table(**kw):
    base = {"name": "t", "dim": 8, "optimizer": OptimizerConfig(OptimizerKind.SGD),
            "initializer": InitializerConfig(InitializerKind.ZEROS)}
    base.update(kw)
    return TableConfig(**base)


def test_enum_values():
    assert [k.value for k in OptimizerKind] == [
        "sgd", "adagrad", "momentum", "adam", "amsgrad", "adadelta", "ftrl", "rmsprop",
        "rmspropv2", "adamom", "shampoo"]
    assert InitializerKind("random_uniform") is InitializerKind.RANDOM_UNIFORM
    assert PullDType("fp16") is PullDType.FP16


def test_reference_defaults():
    p = OptimizerConfig(OptimizerKind.ADAGRAD).params
    assert p == {"learning_rate": 0.001, "weight_decay": 0.0, "warmup_steps": 0.0,
                 "initial_accumulator": 0.1}
    assert OptimizerConfig(OptimizerKind.ADAM).params["epsilon"] == 0.01
    assert OptimizerConfig(OptimizerKind.ADAM).params["beta2"] == 0.99
    assert OptimizerConfig(OptimizerKind.MOMENTUM).params["momentum"] == 0.9
    assert OptimizerConfig(OptimizerKind.FTRL).params["initial_accumulator"] == 0.1
    assert OptimizerConfig(OptimizerKind.ADADELTA).params["rho"] == 0.9
    for kind in OptimizerKind:
        common = {"learning_rate"} if kind.dense_only else {
            "learning_rate", "weight_decay", "warmup_steps"}
        assert common <= set(OPTIMIZER_DEFAULTS[kind])


def test_params_override_and_canonical_order():
    a = OptimizerConfig(OptimizerKind.ADAM, (("beta1", 0.8), ("learning_rate", 1)))
    b = OptimizerConfig(OptimizerKind.ADAM, (("learning_rate", 1.0), ("beta1", 0.8)))
    assert a == b
    assert a.params["beta1"] == 0.8 and a.params["learning_rate"] == 1.0
    assert a.params["beta2"] == 0.99


@pytest.mark.parametrize("hp, match", [
    ((("rho", 0.5),), "optimizer.rho: not a hyperparameter of adagrad, allowed: .*initial_acc"),
    ((("learning_rate", 0.0),), "optimizer.learning_rate: got 0.0"),
    ((("learning_rate", float("nan")),), "must be finite"),
    ((("warmup_steps", 1.5),), "whole number"),
    ((("weight_decay", -1.0),), "optimizer.weight_decay: got -1.0"),
    ((("learning_rate", 0.1), ("learning_rate", 0.2)), "given twice"),
    ((("learning_rate", "x"),), "must be a number"),
])
def test_optimizer_rejects(hp, match):
    with pytest.raises(ValueError, match=match):
        OptimizerConfig(OptimizerKind.ADAGRAD, hp)


def test_optimizer_range_and_flag_checks():
    with pytest.raises(ValueError, match="optimizer.beta1: got 1.0, allowed: \\[0.0, 1.0\\)"):
        OptimizerConfig(OptimizerKind.ADAM, (("beta1", 1.0),))
    with pytest.raises(ValueError, match="use_nesterov: got 2.0, allowed: 0 or 1"):
        OptimizerConfig(OptimizerKind.MOMENTUM, (("use_nesterov", 2),))
    with pytest.raises(ValueError, match="optimizer.type: got 'adamw', allowed: 'sgd'"):
        OptimizerConfig.from_dict({"type": "adamw"})
    with pytest.raises(ValueError, match="optimizer.type"):
        OptimizerConfig("sgd")


def test_optimizer_dict_round_trip():
    c = OptimizerConfig.from_dict({"type": "ftrl", "l1": 0.5, "learning_rate": 0.2})
    assert c.kind is OptimizerKind.FTRL
    assert c.to_dict() == {"type": "ftrl", "l1": 0.5, "learning_rate": 0.2}
    assert OptimizerConfig.from_dict(c.to_dict()) == c


def test_initializer():
    c = InitializerConfig.from_dict({"type": "random_uniform", "minval": -1, "maxval": 1,
                                     "seed": 5})
    assert (c.kind, c.minval, c.maxval, c.seed) == (InitializerKind.RANDOM_UNIFORM, -1.0, 1.0, 5)
    assert InitializerConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="initializer.minval: got 1.0 > maxval 0.0"):
        InitializerConfig(InitializerKind.RANDOM_UNIFORM, minval=1.0, maxval=0.0)
    with pytest.raises(ValueError, match="initializer.seed"):
        InitializerConfig(InitializerKind.ZEROS, seed=1.5)
    with pytest.raises(ValueError, match="unknown keys \\['scale'\\]"):
        InitializerConfig.from_dict({"type": "ones", "scale": 2})
    with pytest.raises(ValueError, match="initializer.type: got 'normal'"):
        InitializerConfig.from_dict({"type": "normal"})


def test_table_config_round_trip():
    t = _table(name="user", dim=16, pull_dtype=PullDType.FP16, expire_after_s=60,
               occurrence_threshold=3)
    d = t.to_dict()
    assert d["pull_dtype"] == "fp16" and d["optimizer"] == {"type": "sgd"}
    assert json.loads(json.dumps(d)) == d
    assert TableConfig.from_dict(d) == t


@pytest.mark.parametrize("kw, match", [
    ({"name": ""}, "table.name: got ''"),
    ({"name": "a b"}, "table.name"),
    ({"dim": 0}, "dim: got 0, must be an integer in \\[1, 65536\\]"),
    ({"dim": 2.0}, "dim: got 2.0"),
    ({"expire_after_s": -1}, "expire_after_s: got -1"),
    ({"occurrence_threshold": 70000}, "occurrence_threshold: got 70000"),
    ({"pull_dtype": "fp16"}, "pull_dtype: got 'fp16', must be a PullDType"),
    ({"touched_capacity": 0}, "touched_capacity: got 0"),
    ({"filter_capacity": 3000}, "filter_capacity: got 3000, allowed: a power of two >= 1024"),
])
def test_table_config_rejects(kw, match):
    with pytest.raises(ValueError, match=match):
        _table(**kw)


def test_table_from_dict_errors():
    with pytest.raises(ValueError, match="missing 'initializer'"):
        TableConfig.from_dict({"name": "x", "dim": 4, "optimizer": {"type": "sgd"}})
    with pytest.raises(ValueError, match="unknown keys \\['expiry'\\]"):
        TableConfig.from_dict({"name": "x", "dim": 4, "optimizer": {"type": "sgd"},
                               "initializer": {"type": "zeros"}, "expiry": 3})
    with pytest.raises(ValueError, match="table.pull_dtype: got 'bf16'"):
        TableConfig.from_dict({"name": "x", "dim": 4, "optimizer": {"type": "sgd"},
                               "initializer": {"type": "zeros"}, "pull_dtype": "bf16"})


def test_load_example():
    cfg = TablesConfig.load(EXAMPLE)
    assert [t.name for t in cfg.tables] == ["user", "item"]
    user, item = cfg.tables
    assert user.dim == item.dim == 16
    assert user.optimizer.kind is OptimizerKind.ADAGRAD
    assert item.optimizer.kind is OptimizerKind.ADAM
    assert item.pull_dtype is PullDType.FP16 and item.expire_after_s == 604800
    assert user.initializer.kind is item.initializer.kind is InitializerKind.RANDOM_UNIFORM
    assert cfg.dense_optimizer.kind is OptimizerKind.ADAM
    assert TablesConfig.from_dict(cfg.to_dict()) == cfg


def test_load_defaults_and_duplicates(tmp_path):
    table = {"name": "a", "dim": 2, "optimizer": {"type": "sgd"}, "initializer": {"type": "zeros"}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"tables": [table]}))
    cfg = TablesConfig.load(path)
    assert cfg.dense_optimizer == OptimizerConfig(OptimizerKind.ADAGRAD)
    assert cfg.table("a").dim == 2
    path.write_text(json.dumps({"tables": [table, table]}))
    with pytest.raises(ValueError, match="duplicate table name 'a'"):
        TablesConfig.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        TablesConfig.load(path)


def test_adagrad_needs_a_positive_initial_accumulator():
    from ps_server.config import OptimizerConfig

    with pytest.raises(ValueError, match="initial_accumulator.*> 0 for adagrad"):
        OptimizerConfig.from_dict({"type": "adagrad", "initial_accumulator": 0.0})
    assert OptimizerConfig.from_dict({"type": "ftrl", "initial_accumulator": 0.0})
