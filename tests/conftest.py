"""Shared pytest set-up: the slow tier runs with -m slow or PYDBN_SLOW=1."""
import os
import re

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYDBN_SLOW") or config.getoption("-m"):
        return
    skip = pytest.mark.skip(reason="slow tier: set PYDBN_SLOW=1 or pass -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# The bad-input matrix (tests/test_hardening_inputs.py, issue 9): how many cases were tried
# per estimator. Every test id there starts with the estimator's name.
_MATRIX_FILE = "test_hardening_inputs.py"
_MATRIX_ID = re.compile(r"\[(AdversarialDBN|RBM|DBN|DBM|VPF|DCIM)\b")


def pytest_terminal_summary(terminalreporter):
    outcomes = {}  # nodeid -> outcome (the call phase's, or a setup skip / error)
    for outcome, reports in terminalreporter.stats.items():
        for rep in reports:
            nodeid = getattr(rep, "nodeid", "")
            if _MATRIX_FILE not in nodeid or outcome in ("", "deselected"):
                continue
            if getattr(rep, "when", "call") == "call" or nodeid not in outcomes:
                outcomes[nodeid] = outcome
    counts = {}
    for nodeid, outcome in outcomes.items():
        match = _MATRIX_ID.search(nodeid)
        if match:
            per = counts.setdefault(match.group(1), {})
            per[outcome] = per.get(outcome, 0) + 1
    if not counts:
        return
    parts = []
    for name in ("RBM", "DBN", "DBM", "VPF", "AdversarialDBN", "DCIM"):
        if name in counts:
            per = counts[name]
            detail = ", ".join(f"{n} {o}" for o, n in sorted(per.items()))
            parts.append(f"{name} {sum(per.values())} cases ({detail})")
    total = sum(sum(per.values()) for per in counts.values())
    terminalreporter.write_line(f"bad-input matrix: {'; '.join(parts)}; total {total}")
