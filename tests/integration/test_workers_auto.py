"""`workers auto` starts one tlsworker per CPU that mitmd may run on: its
CPU affinity (taskset, a cpuset), not every online CPU."""

import os

import pytest

from pylib.mitmd import Mitmd


def test_workers_auto_follows_affinity():
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        pytest.skip("one CPU: affinity and online CPUs agree")
    one = {min(cpus)}
    os.sched_setaffinity(0, one)
    try:
        m = Mitmd(workers="auto")
    finally:
        os.sched_setaffinity(0, cpus)
    try:
        m.workers = 1
        roles = m.wait_children()
        assert len(roles["tlsworker"]) == 1
        for pid in roles["tlsworker"]:
            assert os.sched_getaffinity(pid) == one
    finally:
        m.close()
        m.cleanup()
