import pytest

from discovery import DiscoveryType
from discovery.base import check_entry


@pytest.mark.parametrize("text, expected", [
    ("file", DiscoveryType.FILE), ("ZK", DiscoveryType.ZK), (" consul ", DiscoveryType.CONSUL),
    ("tf_config", DiscoveryType.TF_CONFIG), ("mlp", DiscoveryType.MLP),
    (DiscoveryType.ZK, DiscoveryType.ZK),
])
def test_parse_discovery_type(text, expected):
    assert DiscoveryType.parse(text) is expected


def test_parse_unknown_type_names_value_and_allowed():
    with pytest.raises(ValueError, match=r"file, tf_config, mlp, zk, consul.*'etcd'"):
        DiscoveryType.parse("etcd")


@pytest.mark.parametrize("name, index, addr, field", [
    ("", 0, "h:1", "name"), ("a/b", 0, "h:1", "name"), (".hidden", 0, "h:1", "name"),
    ("ps", -1, "h:1", "index"), ("ps", True, "h:1", "index"), ("ps", "0", "h:1", "index"),
    ("ps", 0, "", "addr"), ("ps", 0, "h :1", "addr"),
])
def test_check_entry_rejects(name, index, addr, field):
    with pytest.raises(ValueError, match=field):
        check_entry(name, index, addr)
