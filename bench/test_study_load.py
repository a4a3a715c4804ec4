"""The load benchmark's bookkeeping (no servers): percentiles, the p99 goal, the saturation point."""

from __future__ import annotations

from bench.study_load import Design, Level, Result


def _level(scale: float, answers: int, seconds: float, latencies: list[float]) -> Level:
    return Level(scale, answers=answers, seconds=seconds, latencies=latencies)


def test_percentiles_and_rate() -> None:
    lv = _level(1.0, 100, 10.0, [i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert lv.rate == 10.0
    assert lv.pct(0.5) == 0.051 and lv.pct(0.99) == 0.100


def test_best_rate_under_the_p99_goal_and_saturation() -> None:
    fast = _level(1.0, 300, 10.0, [0.05] * 99 + [0.2])       # 30/s, p99 200 ms: meets the goal
    faster = _level(0.5, 450, 10.0, [0.05] * 90 + [0.3] * 10)  # 45/s, p99 300 ms: misses it
    r = Result(Design("live", "nginx"), 0.5, [fast, faster])
    assert r.best_under_goal() == 30.0 and r.saturation() == 45.0
    never = Result(Design("baseline", "otree"), 9.0, [_level(1.0, 100, 10.0, [1.0] * 100)])
    assert never.best_under_goal() is None and never.saturation() == 10.0


def test_rate_where_p99_reaches_the_goal_is_interpolated_at_the_first_crossing() -> None:
    def lv(rate: float, p99_ms: float) -> Level:
        return _level(1.0, int(rate * 10), 10.0, [p99_ms / 1000] * 100)

    # 20/s at p99 100 ms, 30/s at 400 ms: 250 ms is half way, at 25/s
    r = Result(Design("live", "nginx"), 0.5, [lv(10, 50), lv(20, 100), lv(30, 400)])
    assert r.at_goal() == (25.0, False)
    # a noisy later level under the goal again does not move it: the first crossing counts
    r = Result(Design("live", "nginx"), 0.5, [lv(20, 100), lv(30, 400), lv(35, 200)])
    assert r.at_goal() == (25.0, False)
    # past saturation the rate fell: the last level under the goal
    assert Result(Design("b", "o"), 1.0, [lv(20, 100), lv(18, 900)]).at_goal() == (20.0, False)
    # never over the goal: a lower bound; over it from the lightest level: not measurable
    assert Result(Design("b", "o"), 1.0, [lv(20, 100), lv(40, 120)]).at_goal() == (40.0, True)
    assert Result(Design("b", "o"), 1.0, [lv(20, 300)]).at_goal() is None
