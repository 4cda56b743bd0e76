"""Shared pytest set-up: the slow tier runs with -m slow or PYDBN_SLOW=1."""
import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYDBN_SLOW") or config.getoption("-m"):
        return
    skip = pytest.mark.skip(reason="slow tier: set PYDBN_SLOW=1 or pass -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
