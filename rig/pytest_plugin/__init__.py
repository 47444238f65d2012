"""The rig's pytest plugin, registered as one plugin by the root ``conftest.py`` (never auto-loaded elsewhere).

One module each: :mod:`.fixtures` (the session and what suites ask for), :mod:`.pics` (collection and PICS),
:mod:`.reporting` (the run record and the live reports).
"""

pytest_plugins = ["rig.pytest_plugin.fixtures", "rig.pytest_plugin.collection", "rig.pytest_plugin.reporting"]
