"""The examples run against a live server as against `make run`: the SDK tests' reviewer (deciding
through the API from another thread) and PostgresSaver database serve them too."""

from tests.clients.conftest import checkpoints, reviewer  # noqa: F401
