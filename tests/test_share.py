"""The shared-key estimator on its own: header sequences and times in, shares and waits out."""

from __future__ import annotations

import pytest

from gpcn_async._share import CUT, MEMORY, MIN_SHARE, ShareEstimator

LIMIT = 40
RESET = 1_000_002.0  # the window's X-RateLimit-Reset (server clock), 2 s after T0
T0 = 1_000_000.0  # our clock when the window starts (clocks in sync)


def answer(
    estimator: ShareEstimator,
    remaining: int,
    at: float,
    *,
    reset: float = RESET,
    in_flight: int = 0,
    limit: int = LIMIT,
) -> None:
    """Feed one counted answer arriving ``at`` seconds after T0."""
    now = T0 + at
    estimator.answered(
        limit=limit,
        remaining=remaining,
        reset=reset,
        time_left=reset - now,
        now=now,
        in_flight=in_flight,
    )


def alone_in_a_window(estimator: ShareEstimator, answers: int = 5) -> None:
    """Our requests one after another, each answer one lower: nobody else spends."""
    for number in range(answers):
        answer(estimator, LIMIT - 1 - number, 0.1 * number)


def test_a_client_alone_is_not_sharing() -> None:
    """Remaining falling by exactly our own requests: no sharing, share 1, no extra wait."""
    estimator = ShareEstimator(window=60.0)
    alone_in_a_window(estimator)
    now = T0 + 0.5
    assert not estimator.sharing(now)
    assert estimator.share(now) == 1.0
    assert estimator.others_rate(now) == 0.0
    assert estimator.delay(now=now, left=30, time_left=1.5, last_sent=now) == 0.0


def test_a_fall_beyond_our_own_requests_is_the_others_spending() -> None:
    """Between two of our answers 6 apart, our one request explains 1: the others spent 5."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 0.0)
    answer(estimator, 33, 0.5)
    now = T0 + 0.5
    assert estimator.sharing(now)
    assert estimator.others_rate(now) == pytest.approx(5 / 0.5)
    assert estimator.share(now) < 1.0


def test_the_others_count_does_not_depend_on_the_order_answers_arrive_in() -> None:
    """Answers overtaking each other give the same count: Remaining places them in the window."""
    in_order, overtaken = ShareEstimator(window=60.0), ShareEstimator(window=60.0)
    # Three of ours sent together; the answer of the one counted second arrives last.
    for remaining, at, in_flight in [(39, 0.0, 2), (35, 0.1, 1), (30, 0.2, 0)]:
        answer(in_order, remaining, at, in_flight=in_flight)
    for remaining, at, in_flight in [(39, 0.0, 2), (30, 0.1, 1), (35, 0.2, 0)]:
        answer(overtaken, remaining, at, in_flight=in_flight)
    now = T0 + 0.2
    # 39 - 30 = 9 requests after our first, two of them ours: 7 were the others'.
    assert in_order.others_rate(now) == overtaken.others_rate(now) == pytest.approx(7 / 0.2)


def test_our_requests_in_flight_are_not_counted_as_the_others() -> None:
    """A fall explained by our own requests still in flight is not taken for others' spending."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 0.0, in_flight=3)
    answer(estimator, 36, 0.01, in_flight=2)  # counted after two of ours still unanswered
    assert not estimator.sharing(T0 + 0.01)


def test_spending_before_our_first_answer_in_a_later_window_is_the_others() -> None:
    """A later window's first answer 10 below the limit: others spent 9, unless ours explain it."""
    newcomer, burst = ShareEstimator(window=60.0), ShareEstimator(window=60.0)
    for estimator in (newcomer, burst):
        alone_in_a_window(estimator)
    answer(newcomer, 30, 2.0, reset=RESET + 2.0)
    answer(burst, 30, 2.0, reset=RESET + 2.0, in_flight=9)
    assert newcomer.sharing(T0 + 2.0)
    assert not burst.sharing(T0 + 2.0)


def test_a_first_window_others_had_spent_is_shared_but_leaves_us_the_whole_share() -> None:
    """Our first window, partly spent before we came: spread over time, share 1; not the next."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 10, 0.0)  # 29 spent before we came, by whoever
    answer(estimator, 9, 0.5)
    shared, share = estimator.sharing(T0 + 0.5), estimator.share(T0 + 0.5)
    answer(estimator, 39, 2.1, reset=RESET + 2.0)
    assert (shared, share) == (True, 1.0)
    assert not estimator.sharing(T0 + 2.1)


def test_the_share_is_nudged_towards_equal() -> None:
    """A client with 4/5 of the recent spending gets less than 4/5, one with 1/5 more than 1/5."""
    leader, follower = ShareEstimator(window=60.0), ShareEstimator(window=60.0)
    # The leader's 8 requests fall 10 places: 2 others'. The follower's 2 fall 10: 8 others'.
    for number in range(8):
        answer(leader, 39 - number - number // 4, 0.1 * number)
    answer(follower, 39, 0.0)
    answer(follower, 30, 0.5)
    now = T0 + 0.8
    assert 0.5 < leader.share(now) < 0.8
    assert 0.2 < follower.share(now) < 0.5


def test_a_client_that_hardly_spent_keeps_the_least_share() -> None:
    """Others spending almost everything still leave us MIN_SHARE, enough to get going."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 999, 0.0, limit=1000)
    answer(estimator, 2, 0.5, limit=1000)  # 996 of the 997 requests in between were the others'
    assert estimator.share(T0 + 0.5) == pytest.approx(MIN_SHARE)


def test_a_429_cuts_the_share_at_once_and_answers_give_it_back_slowly() -> None:
    """After a 429 the share halves at once; it comes back a little with each answer."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 0.0)
    answer(estimator, 30, 0.5)
    now = T0 + 0.5
    before = estimator.share(now)
    estimator.rejected()
    cut = estimator.share(now)
    answer(estimator, 29, 0.5)
    recovering = estimator.share(now)
    assert cut == pytest.approx(before * CUT, rel=0.05)
    assert cut < recovering < before


def test_requests_are_spread_over_the_time_left_in_proportion_to_the_share() -> None:
    """While sharing, the next request waits the time left over our share of what is left."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 0.0)
    answer(estimator, 29, 1.0)  # 9 others' in 1 s, we spent 2 of 11: share about 0.3
    now = T0 + 1.0
    share = estimator.share(now)
    gap = 1.0 / (share * 20)
    delay = estimator.delay(now=now, left=20, time_left=1.0, last_sent=now)
    assert delay == pytest.approx(gap)
    assert estimator.delay(now=now + gap, left=20, time_left=1.0, last_sent=now) < delay


def test_predicted_spending_of_the_others_shrinks_what_is_left() -> None:
    """The later after our last answer, the more the others are assumed to have spent meanwhile."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 0.0)
    answer(estimator, 29, 0.5)  # the others spend 18 a second
    fresh = estimator.delay(now=T0 + 0.5, left=20, time_left=1.5, last_sent=T0 + 0.5)
    stale = estimator.delay(now=T0 + 1.0, left=20, time_left=1.5, last_sent=T0 + 0.5)
    assert stale > fresh - 0.5  # the same send time, but less is predicted to be left


def test_a_share_of_less_than_one_request_waits_for_the_reset() -> None:
    """When our share of what is left is under one request, the wait is the time to the reset."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 0.0)
    answer(estimator, 29, 0.5)
    now = T0 + 0.5
    assert estimator.delay(now=now, left=2, time_left=1.5, last_sent=now - 1) == 1.5


def test_others_seen_a_window_ago_leave_us_the_whole_share_while_sharing_lasts() -> None:
    """A window without others gives back share 1; sharing itself ends MEMORY windows later."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 0.0)
    answer(estimator, 29, 0.5)  # others seen at T0 + 0.5; the window is 2 s
    for start in (2.0, 4.0, 6.0, 8.0):  # then only ours, window after window
        reset = RESET + start
        answer(estimator, 39, start + 0.1, reset=reset)
        answer(estimator, 38, start + 0.2, reset=reset)
    now = T0 + 6.2
    assert estimator.share(now) == 1.0
    assert estimator.sharing(now)
    assert not estimator.sharing(T0 + 0.5 + MEMORY * 2.0 + 0.1)


def test_the_window_length_is_learnt_from_the_answers() -> None:
    """The assumed window gives way to the time left at the first answer, then the longest seen."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 1.5)  # half a second left
    first = estimator.window
    answer(estimator, 39, 2.0, reset=RESET + 2.0)  # the next window, just begun
    assert first == pytest.approx(0.5)
    assert estimator.window == pytest.approx(2.0)


def test_a_late_answer_from_an_ended_window_tells_nothing_about_others() -> None:
    """An answer naming an older reset than the current window's is not taken for a fall."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, 39, 0.0, reset=RESET + 2.0)
    answer(estimator, 0, 0.1)  # from the window before: its Remaining 0 is not a fall of 39
    answer(estimator, 38, 0.2, reset=RESET + 2.0)
    assert not estimator.sharing(T0 + 0.2)


@pytest.mark.parametrize(
    ("remaining", "in_flight", "uncertain"),
    [
        pytest.param(39, 0, True, id="first-window-nothing-else-sent"),
        pytest.param(39, 5, False, id="first-window-already-sent-more"),
    ],
)
def test_the_first_window_is_probed_unless_requests_already_went(
    remaining: int, in_flight: int, uncertain: bool
) -> None:
    """Our very first answer, with nothing else sent, leaves the window uncertain until a second."""
    estimator = ShareEstimator(window=60.0)
    answer(estimator, remaining, 0.0, in_flight=in_flight)
    assert estimator.uncertain() is uncertain
    answer(estimator, remaining - 1, 0.1)
    assert not estimator.uncertain()


def test_a_window_others_spent_before_we_came_is_probed() -> None:
    """A first answer in a later window showing others' spending is uncertain; ours alone is not."""
    estimator = ShareEstimator(window=60.0)
    alone_in_a_window(estimator)
    answer(estimator, LIMIT - 1, 2.0, reset=RESET + 2.0)
    clean = estimator.uncertain()
    answer(estimator, 20, 4.0, reset=RESET + 4.0)  # 19 others' before ours
    assert (clean, estimator.uncertain()) == (False, True)
