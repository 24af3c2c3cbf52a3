"""Which runs retention removes, and the VACUUM window it keeps."""

from jobs.retention import runs_to_remove, vacuum_hours


def test_old_runs_go_unless_their_version_is_held():
    ages = {"a": 40.0, "b": 31.0, "c": 2.0, "d": 45.0}
    assert runs_to_remove(ages, days=30, held={"d"}) == ["a", "b"]
    assert runs_to_remove(ages, days=0, held=set()) == ["a", "b", "c", "d"]
    assert runs_to_remove({}, days=30, held={"x"}) == []


def test_the_vacuum_window_reaches_back_to_the_oldest_kept_run_s_snapshot():
    assert vacuum_hours([1.0, 2.0], days=30) == 720
    assert vacuum_hours([45.0, 3.0], days=30) == 45 * 24
    assert vacuum_hours([0.5], days=0) == 12
    assert vacuum_hours([], days=0) == 0
