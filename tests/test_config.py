from dataclasses import dataclass, field
from typing import Literal

import pytest

from asr.config import from_dict, load_config, to_dict
from asr.errors import AsrError


@dataclass(frozen=True)
class Inner:
    rate: float = 1.0
    name: str = "x"


@dataclass(frozen=True)
class Outer:
    size: int = 3
    kind: Literal["fbank", "mfcc"] = "fbank"
    inner: Inner = field(default_factory=Inner)
    weights: dict[str, float] = field(default_factory=dict)
    layers: list[int] = field(default_factory=list)
    optional: int | None = None


def test_nested_values_are_built_and_coerced():
    cfg = from_dict(Outer, {"size": 5, "inner": {"rate": 2}, "weights": {"a": 1}, "layers": [1, 2]})
    assert cfg == Outer(size=5, inner=Inner(rate=2.0), weights={"a": 1.0}, layers=[1, 2])
    assert isinstance(cfg.inner.rate, float)
    assert to_dict(cfg)["inner"] == {"rate": 2.0, "name": "x"}


def test_unknown_key_names_the_source_and_the_key():
    with pytest.raises(AsrError, match=r"conf\.yaml: unknown config key 'sise' for Outer \(expected one of: "):
        from_dict(Outer, {"sise": 5}, source="conf.yaml")


def test_unknown_nested_key_names_its_path():
    with pytest.raises(AsrError, match=r"c\.yaml: inner: unknown config key 'rte' for Inner"):
        from_dict(Outer, {"inner": {"rte": 1}}, source="c.yaml")


@pytest.mark.parametrize(
    "data, message",
    [
        ({"size": "big"}, r"size: expected int, got 'big'"),
        ({"size": True}, r"size: expected int, got True"),
        ({"kind": "plp"}, r"kind: expected one of 'fbank', 'mfcc', got 'plp'"),
        ({"layers": 3}, r"layers: expected a list, got 3"),
    ],
)
def test_wrong_types_are_rejected(data, message):
    with pytest.raises(AsrError, match=message):
        from_dict(Outer, data)


def test_load_config_reads_yaml_and_applies_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("size: 7\ninner:\n  name: y\n")
    cfg = load_config(Outer, path, overrides={"optional": 4, "kind": None})
    assert (cfg.size, cfg.inner.name, cfg.optional, cfg.kind) == (7, "y", 4, "fbank")


def test_bad_yaml_and_missing_file_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("size: [1,\n")
    with pytest.raises(AsrError, match=r"bad\.yaml: invalid YAML at line \d+ \("):
        load_config(Outer, bad)
    with pytest.raises(AsrError, match=r"nope\.yaml: config file not found"):
        load_config(Outer, tmp_path / "nope.yaml")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(AsrError, match=r"expected a YAML mapping of config keys, got list"):
        load_config(Outer, listy)
