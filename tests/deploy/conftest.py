"""The compose test runs only under ``make test-docker`` (it needs a Docker engine from Debian
packages and a few minutes); ``make test`` does not collect it, rather than skip it."""

import os

collect_ignore = [] if os.environ.get("MONOLITH_PS_DOCKER_TEST") == "1" else ["test_docker_compose.py"]
