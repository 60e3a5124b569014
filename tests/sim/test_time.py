"""Sim time and the fleet-wide scheduler."""

from __future__ import annotations

import pan.xapi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.sim.clock import ManualClock, ScaledClock
from reconciler.sim.commands import cli_to_xml
from reconciler.sim.scheduler import Scheduler


def test_callbacks_run_in_due_order_with_their_due_time() -> None:
    sched = Scheduler()
    ran: list[tuple[str, float]] = []
    sched.at(5.0, lambda t: ran.append(("b", t)))
    sched.at(2.0, lambda t: ran.append(("a", t)))
    sched.at(5.0, lambda t: ran.append(("c", t)))
    assert sched.run_due(4.0) == 1
    assert sched.run_due(10.0) == 2
    assert ran == [("a", 2.0), ("b", 5.0), ("c", 5.0)]
    assert sched.next_due() is None


def test_work_scheduled_by_a_callback_runs_if_already_due() -> None:
    sched = Scheduler()
    ran: list[float] = []
    sched.at(1.0, lambda t: sched.at(t + 1.0, ran.append))
    sched.run_due(3.0)
    assert ran == [2.0]


def test_a_callback_rescheduling_itself_now_is_bounded() -> None:
    sched = Scheduler()

    def again(t: float) -> None:
        sched.at(t, again)

    sched.at(0.0, again)
    assert sched.run_due(0.0, limit=50) == 50


def test_clocks() -> None:
    manual = ManualClock(start_wall=1000.0)
    manual.advance(30)
    assert (manual.now(), manual.wall()) == (30.0, 1030.0)
    with pytest.raises(ValueError):
        manual.advance(-1)
    scaled = ScaledClock(0.01)
    assert scaled.real_delay(300) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        ScaledClock(0)


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8)


@given(
    st.lists(st.one_of(_word, _word.map(lambda w: f'"{w}"')), min_size=1, max_size=6).filter(
        lambda ws: not ws[0].startswith('"')
    )
)
def test_cli_text_converts_exactly_like_pan_python(words: list[str]) -> None:
    text = " ".join(words)
    assert cli_to_xml(text) == pan.xapi.PanXapi(hostname="127.0.0.1", api_key="x").cmd_xml(text)
