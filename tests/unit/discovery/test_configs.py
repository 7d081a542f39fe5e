import pytest

from discovery import ConsulConfig, DiscoveryConfig, DiscoveryType, FileConfig, ZKConfig


@pytest.mark.parametrize("kwargs, field", [
    ({"job_name": "", "servers": "127.0.0.1:2181"}, "job_name"),
    ({"job_name": "a/b", "servers": "127.0.0.1:2181"}, "job_name"),
    ({"job_name": "j", "servers": " "}, "servers"),
    ({"job_name": "j", "servers": "h:1", "session_timeout_s": 0}, "session_timeout_s"),
    ({"job_name": "j", "servers": "h:1", "registration_period_s": -1}, "registration_period_s"),
    ({"job_name": "j", "servers": "h:1", "max_tries": 0}, "max_tries"),
    ({"job_name": "j", "servers": "h:1", "auth_data": (("digest",),)}, "auth_data"),
])
def test_zk_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ZKConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [
    ({"consul_id": ""}, "consul_id"),
    ({"consul_id": "job", "port": 70000}, "port"),
    ({"consul_id": "job", "retry_time_s": 0}, "retry_time_s"),
    ({"consul_id": "job", "check_ttl_s": -1}, "check_ttl_s"),
    ({"consul_id": "job", "max_tries": 0}, "max_tries"),
])
def test_consul_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ConsulConfig(**kwargs)


def test_discovery_config_needs_the_backend_settings():
    with pytest.raises(ValueError, match="file must be a FileConfig when type is file"):
        DiscoveryConfig()
    with pytest.raises(ValueError, match="zk must be a ZKConfig when type is zk"):
        DiscoveryConfig(type=DiscoveryType.ZK)
    with pytest.raises(ValueError, match="consul must be a ConsulConfig"):
        DiscoveryConfig(type=DiscoveryType.CONSUL, file=FileConfig("/tmp"))
    with pytest.raises(ValueError, match=r"type must be one of .*DiscoveryType.parse.*'zk'"):
        DiscoveryConfig(type="zk")
    assert DiscoveryConfig(type=DiscoveryType.MLP).type is DiscoveryType.MLP
