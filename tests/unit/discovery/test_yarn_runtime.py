from discovery import PrimusConfig, get_local_host, get_local_ip


def test_get_local_host_overwrite():
    assert get_local_host({"YARN_INET_ADDR": "1.2.3.4"}) == "1.2.3.4"


def test_get_local_host_overwrite_by_cloudnative():
    env = {"CLOUDNATIVE_INET_ADDR": "1.2.3.4,5.6.7.8", "YARN_INET_ADDR": "9.9.9.9"}
    assert get_local_host(env) == "1.2.3.4"


def test_get_local_host_basic():
    assert get_local_host({}) == get_local_ip()


def test_primus_config_from_env():
    assert PrimusConfig.from_env({}) is None
    assert PrimusConfig.from_env({"PRIMUS_AM_RPC_HOST": "127.0.0.1"}) is None
    config = PrimusConfig.from_env({"PRIMUS_AM_RPC_HOST": "127.0.0.1", "PRIMUS_AM_RPC_PORT": "7"})
    assert config == PrimusConfig(am_addr="127.0.0.1:7")
    assert (config.rpc_timeout_s, config.graceful_shutdown_timeout_s) == (10.0, 20.0)
