"""Root conftest: registers the rig pytest plugin (and nothing else), so it never loads into unrelated runs."""

pytest_plugins = ["rig.pytest_plugin"]
