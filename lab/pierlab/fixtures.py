"""pytest fixtures for tests that run in the lab. In a conftest.py:

    sys.path.insert(0, "<repo>/lab")
    pytest_plugins = ["pierlab.fixtures"]

then ask for `lab` (the lab, up for the whole session), `healthy_lab` (the same, with every
fault undone before and after the test) or `fresh_lab` (booted anew for one test module: bare
hosts, empty stores, whatever earlier modules installed or broke)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from . import layout
from .lab import Lab


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config) -> Iterator[Lab]:
    """The lab with PIER_LAB_HOSTS hosts (default 3). A lab that was already up is used and
    left up; one this fixture booted is taken down at the end of the session."""
    plugins = pytestconfig.pluginmanager
    terminal = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")

    def say(line: str) -> None:
        # The phases' times on the terminal as they happen, past pytest's output capture.
        if terminal is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                terminal.write_line(line)

    the_lab = Lab()
    was_up = bool(the_lab.hosts())
    try:
        the_lab.up(int(os.environ.get("PIER_LAB_HOSTS", layout.DEFAULT_HOSTS)), say=say)
    except BaseException:
        if not was_up:
            the_lab.down()
        raise
    yield the_lab
    if not was_up:
        started = time.monotonic()
        cleaned = the_lab.down()
        say(f"lab: down in {time.monotonic() - started:.1f}s ({len(cleaned)} things removed, nothing left)")


@pytest.fixture
def healthy_lab(lab: Lab) -> Iterator[Lab]:
    """The lab with no fault in place, and none left behind by the test."""
    lab.reset_faults()
    yield lab
    lab.reset_faults()


@pytest.fixture(scope="module")
def fresh_lab(lab: Lab) -> Lab:
    """The lab booted anew from nothing for this module: a system test (a package install, a
    rollout) starts from bare hosts whatever ran before it, and costs a couple of seconds."""
    hosts = len(lab.hosts()) or int(os.environ.get("PIER_LAB_HOSTS", layout.DEFAULT_HOSTS))
    lab.down()
    lab.up(hosts)
    return lab
