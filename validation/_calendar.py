"""NYSE trading sessions from pandas holiday rules (no calendar package needed).

Rules: New Year's Day (a Saturday holiday is not moved to Friday), Martin Luther King Jr. Day
(from 1998), Washington's Birthday, Good Friday, Memorial Day, Juneteenth (from 2022),
Independence Day, Labor Day, Thanksgiving, Christmas (Saturday → Friday, Sunday → Monday),
plus the one-off closures since 1990 (national days of mourning, 9/11, Hurricane Sandy).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)

#: Whole-day closures that no rule produces.
SPECIAL_CLOSURES = (
    "1994-04-27",  # President Nixon's funeral
    "2001-09-11", "2001-09-12", "2001-09-13", "2001-09-14",  # September 11
    "2004-06-11",  # President Reagan's funeral
    "2007-01-02",  # President Ford's funeral
    "2012-10-29", "2012-10-30",  # Hurricane Sandy
    "2018-12-05",  # President G. H. W. Bush's funeral
    "2025-01-09",  # President Carter's funeral
)


class _NYSEHolidays(AbstractHolidayCalendar):
    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        Holiday("MLK Day", month=1, day=1, start_date="1998-01-01", offset=USMartinLutherKingJr.offset),
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-01-01", observance=nearest_workday),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


@lru_cache(maxsize=8)
def _sessions(start_year: int, end_year: int) -> np.ndarray:
    start, end = f"{start_year}-01-01", f"{end_year}-12-31"
    holidays = _NYSEHolidays().holidays(start, end)
    closed = holidays.union(pd.DatetimeIndex(SPECIAL_CLOSURES))
    days = pd.bdate_range(start, end)
    return days[~days.isin(closed)].to_numpy(dtype="datetime64[D]")


def sessions(start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """NYSE session dates (`datetime64[D]`) covering the years from `start` to `end`."""
    return _sessions(start.year, end.year)


def missing_sessions(dates: pd.DatetimeIndex) -> np.ndarray:
    """For each bar, the number of NYSE sessions strictly between it and the previous bar.

    `dates` are the bars' session dates (naive or exchange-local); the first bar gets 0.
    Weekends and exchange holidays never count as missing; a bar out of order gets 0
    (ordering has its own expectation).
    """
    days = np.asarray(dates.normalize().tz_localize(None) if dates.tz else dates.normalize(), dtype="datetime64[D]")
    if len(days) < 2:
        return np.zeros(len(days), dtype=np.int64)
    cal = _sessions(int(str(days.min())[:4]), int(str(days.max())[:4]))
    pos = np.searchsorted(cal, days)  # index of each bar's session (or where it would be)
    between = np.diff(pos) - 1
    # a previous bar dated on a non-session day sits before its insertion point, so the
    # session at that point lies between the two bars and must be counted
    on_session = (pos < len(cal)) & (cal[np.minimum(pos, len(cal) - 1)] == days)
    between = between + (~on_session[:-1]).astype(np.int64)
    return np.concatenate([[0], np.maximum(between, 0)]).astype(np.int64)
