import json

from discovery import (
    ConsulConfig,
    ConsulServiceDiscovery,
    DiscoveryConfig,
    DiscoveryType,
    FileConfig,
    FileServiceDiscovery,
    MLPServiceDiscovery,
    TfConfigServiceDiscovery,
    create_discovery,
)


def test_file_is_the_local_default(tmp_path):
    config = DiscoveryConfig(file=FileConfig(str(tmp_path)))
    with create_discovery(config) as disc:
        assert isinstance(disc, FileServiceDiscovery)
        disc.register("ps", 0, "127.0.0.1:1")
        assert disc.query("ps") == {0: "127.0.0.1:1"}


def test_tf_config_from_string():
    tf_config = json.dumps({"cluster": {"ps": ["p:1"], "worker": ["w:1"]},
                            "task": {"type": "worker", "index": 0}})
    disc = create_discovery(DiscoveryConfig(type=DiscoveryType.parse("tf_config"),
                                            tf_config=tf_config))
    assert isinstance(disc, TfConfigServiceDiscovery)
    assert disc.query("ps") == {0: "p:1"}


def test_mlp_reads_the_environment(monkeypatch):
    for key, value in {"MLP_ROLE": "PS", "MLP_ROLE_INDEX": "0", "MLP_PORT": "3000",
                       "MLP_PS_NUM": "1", "MLP_PS_ALL_HOSTS": "127.0.0.1",
                       "MLP_PS_0_PORT": "3000"}.items():
        monkeypatch.setenv(key, value)
    disc = create_discovery(DiscoveryConfig(type=DiscoveryType.MLP))
    assert isinstance(disc, MLPServiceDiscovery)
    assert (disc.server_type, disc.addr) == ("ps", "127.0.0.1:3000")


def test_consul_builds_without_contacting_the_agent():
    config = DiscoveryConfig(type=DiscoveryType.CONSUL,
                             consul=ConsulConfig("job", host="127.0.0.1", port=8500))
    with create_discovery(config) as disc:
        assert isinstance(disc, ConsulServiceDiscovery)
