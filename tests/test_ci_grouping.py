"""The suite's xdist groups hold: a grouped test runs under its group's name.

``.ci/run`` relies on ``--dist loadgroup`` to keep the hostile corpus on one worker
(its session fixture runs the corpus once per worker); some pytest releases silently
stop the grouping (pytest-dev/pytest-xdist#1386).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("grouping-check")


def test_a_grouped_test_runs_under_its_group_name(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("only meaningful on xdist workers with --dist loadgroup")
    assert request.node.nodeid.endswith("@grouping-check"), request.node.nodeid
