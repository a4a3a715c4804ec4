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
