"""``State.tick()``: duration jobs change when their time comes, and only those are visited.

These tests drive a bare ``State`` with hand-set clocks, so nothing sleeps. A reference state
whose ``tick()`` visits every running duration job (as the fake did before it kept them in a heap)
checks that the scheduled ``tick()`` changes jobs and VMs exactly as that did.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from gpcn_async.testing import FakeGPCN, JobRecord, JobScript
from gpcn_async.testing._catalog import Catalog
from gpcn_async.testing._jobs import Outcome
from gpcn_async.testing._state import State

EPOCH = datetime(2026, 2, 21, tzinfo=UTC)

JobRow = tuple[str, int, int, datetime | None, datetime | None, str | None]
VmRow = tuple[str, str, datetime]


class Clock:
    """A monotonic clock set by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Wall:
    """A wall clock that moves on 1 ms at every reading, so each reading is told apart."""

    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> datetime:
        self.readings += 1
        return EPOCH + timedelta(milliseconds=self.readings)


class CountingState(State):
    """A state that records which jobs its ``tick()`` and ``poll()`` move along."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        default_script: JobScript,
        clock: Callable[[], float],
        wall: Callable[[], datetime],
    ) -> None:
        super().__init__(catalog=catalog, default_script=default_script, clock=clock, wall=wall)
        self.advanced: list[str] = []

    def _advance(self, job: JobRecord, *, now: float, wall: datetime, polled: bool) -> None:
        self.advanced.append(job.id)
        super()._advance(job, now=now, wall=wall, polled=polled)


class VisitAllState(State):
    """The reference: ``tick()`` advances every running duration job, as before the heap."""

    def tick(self) -> None:
        now, wall = self.clock(), self.wall()
        for job in list(self.jobs.values()):
            if not job.terminal and job.script.duration is not None:
                self._advance(job, now=now, wall=wall, polled=False)


StateT = TypeVar("StateT", bound=State)


def make_state(
    clock: Clock, cls: type[StateT], script: JobScript | None = None
) -> tuple[StateT, Wall]:
    """A ``cls`` on ``clock`` with a counting wall clock, the seeded catalog and no VM."""
    wall = Wall()
    state = cls(
        catalog=Catalog.seeded(),
        default_script=script or JobScript(polls=None, duration=10.0),
        clock=clock,
        wall=wall,
    )
    return state, wall


def duration(seconds: float, *, progress: tuple[int, ...] | None = None) -> JobScript:
    """A script that succeeds ``seconds`` after creation."""
    return JobScript(polls=None, duration=seconds, progress=progress)


def test_duration_job_finishes_at_its_due_time_and_not_before() -> None:
    """A 2 s create job is still running at 1.999 s and succeeds at the tick at 2 s, VM Running."""
    clock = Clock(100.0)
    state, wall = make_state(clock, State)
    vm = state.vms[state.vms.add(status="Provisioning")]
    job = state.new_job("create", vm.id, script=duration(2.0))
    clock.now = 101.999
    state.tick()
    assert (job.state, job.completed_at) == ("running", None)
    clock.now = 102.0
    state.tick()
    finished_at = EPOCH + timedelta(milliseconds=wall.readings - 1)  # before set_status's reading
    assert (job.state, job.progress) == ("succeeded", 100)
    assert job.completed_at == job.updated_at == finished_at
    assert vm.status == "Running"
    assert vm.updated_at == EPOCH + timedelta(milliseconds=wall.readings)


def test_jobs_with_different_durations_finish_in_due_order() -> None:
    """Jobs of 3, 1 and 2 s created together finish one per tick at 1, 2 and 3 s, shortest first."""
    clock = Clock(0.0)
    state, _ = make_state(clock, State)
    jobs = [state.new_job("delete", None, script=duration(seconds)) for seconds in (3.0, 1.0, 2.0)]
    finished = []
    for now in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
        clock.now = now
        state.tick()
        finished.append([index for index, job in enumerate(jobs) if job.terminal])
    assert finished == [[], [1], [1], [1, 2], [1, 2], [0, 1, 2]]


def test_jobs_due_in_the_same_tick_take_effect_in_creation_order() -> None:
    """A stop created before a shorter start, both due at one tick, is applied first: VM Running."""
    clock = Clock(0.0)
    state, _ = make_state(clock, State)
    vm = state.vms[state.vms.add(status="Running")]
    stop = state.new_job("stop", vm.id, script=duration(2.0))
    start = state.new_job("start", vm.id, script=duration(1.0))
    clock.now = 5.0
    state.tick()
    assert (stop.state, start.state) == ("succeeded", "succeeded")
    assert vm.status == "Running"


def test_job_finished_early_is_not_finished_again_by_tick() -> None:
    """A delete job failed by hand keeps its end and VM past its due time; no entry is left."""
    clock = Clock(0.0)
    state, _ = make_state(clock, CountingState)
    vm = state.vms[state.vms.add()]
    job = state.new_job("delete", vm.id, script=duration(1.0))
    clock.now = 0.5
    state.finish(job, "failed", "disk stuck")
    ended = job.completed_at
    state.advanced.clear()
    clock.now = 2.0
    state.tick()
    assert (job.state, job.error, job.completed_at) == ("failed", "disk stuck", ended)
    assert vm.id in state.vms
    assert state.advanced == []
    assert state._due == []
    assert state._live == {}


def test_job_finished_by_a_poll_is_not_finished_again_by_tick() -> None:
    """A 1 s job given a 1-poll script ends on that poll; the tick at 1 s leaves its end alone."""
    clock = Clock(0.0)
    state, _ = make_state(clock, State)
    job = state.new_job("start", None, script=duration(1.0))
    state.rescript(job, JobScript(polls=1))
    [polled] = state.poll([job.id])
    ended = polled.completed_at
    clock.now = 1.0
    state.tick()
    assert (job.state, job.poll_count, job.completed_at) == ("succeeded", 1, ended)


def test_tick_visits_no_job_that_is_not_due() -> None:
    """With 20,000 running 1 h jobs and one 1 s job, ticks advance none, then only the short one."""
    clock = Clock(0.0)
    state, _ = make_state(clock, CountingState, script=duration(3600.0))
    for _ in range(20_000):
        state.new_job("delete", None)
    short = state.new_job("delete", None, script=duration(1.0))
    for now in (0.0, 0.001, 0.005):  # before the short job's first 1 % (the long ones' is 36 s)
        clock.now = now
        state.tick()
    assert state.advanced == []
    clock.now = 0.5
    state.tick()
    assert (state.advanced, short.progress) == ([short.id], 50)
    clock.now = 1.0
    state.tick()
    assert state.advanced == [short.id, short.id]
    assert short.state == "succeeded"
    assert len(state._due) == 20_000


def test_a_tick_that_is_not_a_poll_records_the_progress_it_sees_rise() -> None:
    """A tick at 25 % of a 10 s job sets 25 % and updated_at; a poll at 25.5 % keeps that time."""
    clock = Clock(0.0)
    state, wall = make_state(clock, State)
    job = state.new_job("create", None, script=duration(10.0))
    clock.now = 2.5
    state.tick()
    seen = EPOCH + timedelta(milliseconds=wall.readings)
    clock.now = 2.55
    [polled] = state.poll([job.id])
    assert (polled.progress, polled.updated_at) == (25, seen)


def test_a_rise_that_float_rounding_brings_forward_is_not_missed() -> None:
    """A 0.1 s job shows 93 % at 0.093 s, where 0.1 * 0.93 rounds a hair above 0.093."""
    assert 0.1 * (93 / 100) > 0.093  # the naive due time is one float late
    clock = Clock(0.0)
    state, _ = make_state(clock, State)
    job = state.new_job("create", None, script=duration(0.1))
    clock.now = 0.0925
    state.tick()
    assert job.progress == 92
    clock.now = 0.093
    state.tick()
    assert job.progress == 93


def test_duration_curve_steps_are_recorded_by_ticks_at_each_slice() -> None:
    """A 3 s job with the curve (10, 50, 90) shows 10, 50, 90 at ticks in each slice, then 100."""
    clock = Clock(0.0)
    state, _ = make_state(clock, State)
    job = state.new_job("create", None, script=duration(3.0, progress=(10, 50, 90)))
    seen = []
    for now in (0.0, 0.9, 1.0, 2.5, 3.0):
        clock.now = now
        state.tick()
        seen.append(job.progress)
    assert seen == [10, 10, 50, 90, 100]


def test_rescripting_a_job_moves_its_due_time() -> None:
    """A poll job rescripted to 1 s ends at 1 s; a 1 s job rescripted to 5 s is running at 4 s."""
    clock = Clock(0.0)
    state, _ = make_state(clock, State)
    polled = state.new_job("start", None, script=JobScript(polls=3))
    longer = state.new_job("stop", None, script=duration(1.0))
    state.rescript(polled, duration(1.0))
    state.rescript(longer, duration(5.0))
    clock.now = 1.0
    state.tick()
    assert (polled.state, longer.state) == ("succeeded", "running")
    clock.now = 4.0
    state.tick()
    assert (longer.state, longer.progress) == ("running", 80)
    clock.now = 5.0
    state.tick()
    assert longer.state == "succeeded"


def test_script_job_to_zero_duration_is_finished_by_the_next_tick() -> None:
    """``script_job(duration=0)`` on a poll-scripted job ends it when ``fake.jobs`` ticks."""
    fake = FakeGPCN(job_polls=5)
    job_id = fake.add_job()
    fake.script_job(job_id, duration=0, outcome="failed", error="boom")
    job = fake.jobs[job_id]
    assert (job.state, job.error) == ("failed", "boom")


def observed(state: State) -> tuple[list[JobRow], list[VmRow]]:
    """Everything a read can show of the state's jobs (in creation order) and VMs."""
    jobs: list[JobRow] = [
        (j.state, j.progress, j.poll_count, j.updated_at, j.completed_at, j.error)
        for j in state.jobs.values()
    ]
    vms = [(vm.id, vm.status, vm.updated_at) for vm in state.vms.values()]
    return jobs, vms


def random_script(rng: random.Random) -> JobScript:
    """A random script: polls or a duration, a linear rise or a curve, any outcome."""
    curve = None
    if rng.random() < 0.4:
        values = (0, 5, 10, 50, 90, 99, 100)
        curve = tuple(sorted(rng.choice(values) for _ in range(rng.randint(1, 5))))
    outcomes: tuple[Outcome, ...] = ("succeeded", "succeeded", "failed", "cancelled")
    outcome = rng.choice(outcomes)
    if rng.random() < 0.3:
        polls = len(curve) + 1 if curve else rng.randint(1, 4)
        return JobScript(polls=polls, outcome=outcome, progress=curve)
    seconds = rng.choice((0.0, 0.01, 0.1, 0.3, 1.0, 2.5, 7.0))
    return JobScript(polls=None, duration=seconds, outcome=outcome, progress=curve)


def replay(state: State, clock: Clock, seed: int) -> list[tuple[list[JobRow], list[VmRow]]]:
    """Run a random history on ``state`` and return what reads show after each step.

    The history creates jobs on the state's VMs, ticks, polls, finishes and rescripts running
    jobs, and moves the clock: small steps, to a hair either side of a moment a running job's
    progress rises or it ends, and a little back.
    """
    rng = random.Random(seed)
    for index in range(6):
        state.vms.add(id=f"vm-{index}", status="Running")
    seen = []
    for _ in range(400):
        operation = rng.choice(
            (
                "job",
                "job",
                "tick",
                "tick",
                "tick",
                "poll",
                "finish",
                "rescript",
                "step",
                "edge",
                "back",
            )
        )
        running = [job for job in state.jobs.values() if not job.terminal]
        job = rng.choice(running) if running else None
        script = random_script(rng)
        if operation == "job":
            vm_id = rng.choice([*sorted(state.vms), None])
            operation_name = rng.choice(("create", "delete", "start", "stop", "reset"))
            state.new_job(operation_name, vm_id, script=script)
        elif operation == "tick":
            state.tick()
        elif operation == "step":
            clock.now += rng.choice((0.0, 1e-9, 0.001, 0.05, 0.2, 1.0, 3.0))
        elif operation == "back":
            clock.now -= rng.choice((1e-9, 1e-6))  # further back, advance() breaks on curves
        elif job is None:
            pass
        elif operation == "poll":
            state.poll([job.id])
        elif operation == "finish":
            state.finish(job, "failed", "stopped by hand")
        elif operation == "rescript":
            state.rescript(job, script)
        else:  # "edge"
            share = rng.choice((0.0, 0.25, 1 / 3, 0.5, 1.0, (job.progress + 1) / 100))
            moment = job.started + (job.script.duration or 0.0) * share
            below, above = math.nextafter(moment, -math.inf), math.nextafter(moment, math.inf)
            moment = rng.choice((moment, below, above, moment - 1e-12, moment + 1e-12))
            clock.now = max(clock.now, moment)
        seen.append(observed(state))
    clock.now += 10.0
    state.tick()
    seen.append(observed(state))
    return seen


@pytest.mark.parametrize("seed", range(12))
def test_tick_changes_jobs_and_vms_exactly_as_visiting_every_job_did(seed: int) -> None:
    """Over a random history of jobs, ticks, polls, finishes and rescripts, every read matches."""
    scheduled_clock, reference_clock = Clock(50.0), Clock(50.0)
    scheduled = replay(make_state(scheduled_clock, State)[0], scheduled_clock, seed)
    reference = replay(make_state(reference_clock, VisitAllState)[0], reference_clock, seed)
    assert len(scheduled) == len(reference) == 401
    for step, (mine, theirs) in enumerate(zip(scheduled, reference, strict=True)):
        assert mine == theirs, f"step {step}"
    final_jobs, _ = scheduled[-1]
    assert sum(1 for row in final_jobs if row[0] != "running") > 20  # the history did end jobs
