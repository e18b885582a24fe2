"""Chinese working days (工作日): weekends and public holidays off, make-up working days (调休上班日) on.

Owners' requests are answered within 5 working days. China's official
calendar moves working days onto some Saturdays and Sundays around the long
holidays (春节, 国庆), so a weekday rule alone is wrong twice a year: the
company configures the public holidays AND the make-up working days.

Where the calendar comes from, first found wins:

1. ``DANGAN_HOME/holidays.toml`` or ``DANGAN_HOME/holidays.json``, the file
   the operator edits::

       holidays = ["2026-10-01", "2026-10-02", ...]   # days off
       workdays = ["2026-09-20", "2026-10-10"]         # weekend days that are working days

2. the calendar dangan ships (``rules/holidays.toml``): the official dates
   of 2026 from the State Council notice. **Check it against the State
   Council notice (国务院办公厅关于部分节假日安排的通知) each year**; the next
   year's dates are added when the notice is published (usually in November).

A year with no holiday listed is not covered: its days are counted by
weekends alone, and :meth:`WorkdayCalendar.uncovered_years` names it so the
command line can warn.

Counting: the day a request is received never counts; day 1 is the next
working day. A request received on a day off (a Sunday, a holiday) therefore
starts counting on the next working day, and one received on a Friday too.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from schemas.errors import ConfigError

#: The company's time zone: "today" and the day a request was received are days there.
COMPANY_TZ = ZoneInfo("Asia/Shanghai")
#: Working days an owner's request must be answered in (PIPL, the company's rules).
ANSWER_WORKING_DAYS = 5
#: The operator's calendar files in DANGAN_HOME, in the order they are looked for.
CALENDAR_FILES = ("holidays.toml", "holidays.json")
#: Longest span :func:`WorkdayCalendar.add_working_days` walks (a typo such as 50000 days stops here).
_MAX_DAYS = 3660


@dataclass(frozen=True)
class WorkdayCalendar:
    """Public holidays and make-up working days; every other Monday-Friday works, every weekend day is off."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    #: Where the dates came from (a file path, or ``shipped`` for dangan's own calendar).
    source: str = "shipped"

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``start`` (``start`` itself never counts; ``n`` = 0 gives ``start``)."""
        if n < 0:
            raise ValueError("count working days forward only")
        day, counted = start, 0
        for _ in range(_MAX_DAYS):
            if counted == n:
                return day
            day += dt.timedelta(days=1)
            counted += self.is_working_day(day)
        raise ValueError(f"{n} working days after {start} is more than {_MAX_DAYS} days away")

    def due_date(self, received: dt.date) -> dt.date:
        """The last day to answer a request received on ``received`` (5 working days)."""
        return self.add_working_days(received, ANSWER_WORKING_DAYS)

    def covered_years(self) -> frozenset[int]:
        """Years the calendar lists holidays of."""
        return frozenset(d.year for d in self.holidays)

    def uncovered_years(self, first: dt.date, last: dt.date) -> list[int]:
        """Years from ``first`` to ``last`` whose holidays are not configured (counted by weekends alone)."""
        covered = self.covered_years()
        return [year for year in range(first.year, last.year + 1) if year not in covered]


def company_today() -> dt.date:
    """Today in the company's time zone."""
    return dt.datetime.now(COMPANY_TZ).date()


def calendar_path(home: Path) -> Path | None:
    """The operator's calendar file in ``home``, if there is one."""
    return next((home / name for name in CALENDAR_FILES if (home / name).is_file()), None)


def load_calendar(home: Path) -> WorkdayCalendar:
    """The company's working-day calendar: the operator's file in ``home``, else the shipped one.

    ConfigError (exit 6) names the file and the entry when a file cannot be
    read, a date is not YYYY-MM-DD, a day is both a holiday and a working day,
    or a make-up working day is not a Saturday or Sunday.
    """
    path = calendar_path(home)
    if path is None:
        text = files("rules").joinpath("holidays.toml").read_text(encoding="utf-8")
        return parse_calendar(tomllib.loads(text), source="shipped")
    try:
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
    except (OSError, UnicodeDecodeError, ValueError) as e:  # tomllib's and json's decode errors are ValueErrors
        raise ConfigError(f"The holiday calendar {path} cannot be read ({type(e).__name__}: {e}); fix it or "
                          "remove it to use the shipped calendar.") from None
    return parse_calendar(data, source=str(path))


def parse_calendar(data: Any, *, source: str) -> WorkdayCalendar:
    """A calendar from ``{"holidays": [...], "workdays": [...]}``; ConfigError naming ``source`` when it is wrong."""
    if not isinstance(data, dict):
        raise ConfigError(f"The holiday calendar {source} must hold the lists holidays and workdays.")
    unknown = sorted(set(data) - {"holidays", "workdays"})
    if unknown:
        raise ConfigError(f"The holiday calendar {source} has unknown entries {', '.join(unknown)}; "
                          "it holds the lists holidays and workdays only.")
    holidays = _days(data.get("holidays", []), "holidays", source)
    workdays = _days(data.get("workdays", []), "workdays", source)
    both = sorted(holidays & workdays)
    if both:
        raise ConfigError(f"The holiday calendar {source} lists {both[0]} as a holiday and as a working day.")
    weekdays = sorted(d for d in workdays if d.weekday() < 5)
    if weekdays:
        raise ConfigError(f"The holiday calendar {source} lists {weekdays[0]} (a weekday) under workdays; "
                          "workdays lists the Saturdays and Sundays that are working days (调休上班日).")
    return WorkdayCalendar(holidays=holidays, workdays=workdays, source=source)


def _days(values: Iterable[Any] | Any, name: str, source: str) -> frozenset[dt.date]:
    if not isinstance(values, list):
        raise ConfigError(f"The holiday calendar {source}: {name} must be a list of days such as \"2026-10-01\".")
    days = set()
    for value in values:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):  # TOML's own dates
            days.add(value)
            continue
        try:
            days.add(dt.date.fromisoformat(str(value)))
        except ValueError:
            raise ConfigError(f"The holiday calendar {source}: {value!r} in {name} is not a day such as "
                              "\"2026-10-01\".") from None
    return frozenset(days)
