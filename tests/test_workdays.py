"""The working-day calendar (工作日) that owners' requests are due by: weekends, holidays, make-up working days."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from rules.workdays import WorkdayCalendar, load_calendar, parse_calendar
from schemas.errors import ConfigError

D = dt.date


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> WorkdayCalendar:
    """The calendar dangan ships (a home without a holidays file of its own)."""
    return load_calendar(tmp_path_factory.mktemp("home-without-calendar"))


def test_the_shipped_calendar_holds_the_official_2026_dates(shipped: WorkdayCalendar) -> None:
    assert shipped.source == "shipped"
    assert len(shipped.holidays) == 33 and {d.year for d in shipped.holidays} == {2026}
    for day in (D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)):
        assert day.weekday() >= 5 and shipped.is_working_day(day), day  # 调休上班日
    for day in (D(2026, 10, 1), D(2026, 10, 7), D(2026, 2, 23), D(2026, 5, 5), D(2026, 9, 25), D(2026, 6, 19)):
        assert day.weekday() < 5 and not shipped.is_working_day(day), day
    assert not shipped.is_working_day(D(2026, 3, 7)) and shipped.is_working_day(D(2026, 3, 9))


@pytest.mark.parametrize(("received", "due", "why"), [
    (D(2026, 3, 4), D(2026, 3, 11), "Wednesday: Thu, Fri, (weekend), Mon, Tue, Wed"),
    (D(2026, 3, 9), D(2026, 3, 16), "Monday: the day received does not count"),
    (D(2026, 3, 6), D(2026, 3, 13), "Friday: day 1 is the next Monday"),
    (D(2026, 3, 7), D(2026, 3, 13), "Saturday: counting starts on the next working day"),
    (D(2026, 3, 8), D(2026, 3, 13), "Sunday: counting starts on the next working day"),
    (D(2026, 9, 30), D(2026, 10, 13), "before 国庆: 10-8, 10-9, Saturday 10-10 (make-up), 10-12, 10-13"),
    (D(2026, 10, 3), D(2026, 10, 13), "inside 国庆: counting starts on 10-8"),
    (D(2026, 2, 13), D(2026, 2, 27), "before 春节: Saturday 2-14 (make-up), then 2-24 to 2-27"),
    (D(2026, 9, 18), D(2026, 9, 24), "Sunday 9-20 is a working day: 9-21 to 9-24 after it"),
])
def test_due_dates(shipped: WorkdayCalendar, received: dt.date, due: dt.date, why: str) -> None:
    assert shipped.due_date(received) == due, why


def test_without_the_make_up_saturday_the_national_day_request_would_be_due_a_day_later() -> None:
    holidays = frozenset(D(2026, 10, d) for d in range(1, 8))
    with_make_up = WorkdayCalendar(holidays=holidays, workdays=frozenset({D(2026, 10, 10)}))
    weekends_only = WorkdayCalendar(holidays=holidays)
    assert with_make_up.due_date(D(2026, 9, 30)) == D(2026, 10, 13)
    assert weekends_only.due_date(D(2026, 9, 30)) == D(2026, 10, 14)
    assert WorkdayCalendar().due_date(D(2026, 9, 30)) == D(2026, 10, 7)  # no holidays at all


def test_counting(shipped: WorkdayCalendar) -> None:
    assert shipped.add_working_days(D(2026, 3, 8), 0) == D(2026, 3, 8)
    assert shipped.add_working_days(D(2026, 3, 8), 1) == D(2026, 3, 9)
    assert shipped.add_working_days(D(2026, 1, 1), 1) == D(2026, 1, 4)  # a Sunday that is worked
    with pytest.raises(ValueError, match="forward"):
        shipped.add_working_days(D(2026, 3, 8), -1)
    always_off = WorkdayCalendar(holidays=frozenset(D(2026, 1, 1) + dt.timedelta(days=i) for i in range(4000)))
    with pytest.raises(ValueError, match="more than"):
        always_off.add_working_days(D(2026, 1, 1), 1)


def test_a_year_without_holidays_is_named(shipped: WorkdayCalendar) -> None:
    assert shipped.uncovered_years(D(2026, 11, 30), D(2026, 12, 7)) == []
    assert shipped.uncovered_years(D(2026, 12, 28), D(2027, 1, 5)) == [2027]


def test_the_operators_file_replaces_the_shipped_calendar(tmp_path: Path) -> None:
    (tmp_path / "holidays.toml").write_text(
        '# 公司自定\nholidays = ["2027-02-08", 2027-02-09]\nworkdays = ["2027-02-06"]\n', encoding="utf-8")
    calendar = load_calendar(tmp_path)
    assert calendar.source == str(tmp_path / "holidays.toml")
    assert calendar.holidays == {D(2027, 2, 8), D(2027, 2, 9)} and calendar.workdays == {D(2027, 2, 6)}
    assert calendar.is_working_day(D(2026, 10, 1))  # the shipped 2026 dates are not added
    assert calendar.due_date(D(2027, 2, 5)) == D(2027, 2, 15)  # Sat 2-6, (Sun, two holidays), 2-10, 11, 12, Mon 15


def test_a_json_file_works_too(tmp_path: Path) -> None:
    (tmp_path / "holidays.json").write_text(json.dumps({"holidays": ["2026-10-01"], "workdays": []}),
                                            encoding="utf-8")
    calendar = load_calendar(tmp_path)
    assert calendar.holidays == {D(2026, 10, 1)} and not calendar.is_working_day(D(2026, 10, 1))


@pytest.mark.parametrize(("text", "says"), [
    ('holidays = ["2026-13-01"]', "'2026-13-01' in holidays is not a day"),
    ('holidays = "2026-10-01"', "holidays must be a list"),
    ('workdays = ["2026-10-09"]', "2026-10-09 (a weekday) under workdays"),
    ('holidays = ["2026-10-10"]\nworkdays = ["2026-10-10"]', "2026-10-10 as a holiday and as a working day"),
    ('holiday = ["2026-10-01"]', "unknown entries holiday"),
    ('holidays = ["2026-10-01"', "cannot be read"),
])
def test_a_wrong_file_is_a_config_error_naming_it(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as failed:
        load_calendar(tmp_path)
    assert str(path) in failed.value.message and says in failed.value.message, failed.value.message


def test_parse_takes_dates_as_toml_gives_them() -> None:
    calendar = parse_calendar({"holidays": [D(2026, 10, 1)], "workdays": [D(2026, 10, 10)]}, source="test")
    assert calendar.is_working_day(D(2026, 10, 10)) and not calendar.is_working_day(D(2026, 10, 1))
