"""Shared fixtures. Each fixture module owns one kind of real local server or tool."""

pytest_plugins = [
    "tests.fixtures.tools",
    "tests.fixtures.servers",
    "tests.fixtures.jupyterhub",
    "tests.fixtures.emulator",
]
