"""JQL date values: absolute dates, relative periods and the date functions, in the caller's time zone."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, tzinfo

_ABSOLUTE = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?")
_PERIOD = re.compile(r"([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
_INCREMENT = re.compile(r"([-+]?)(\d+)([yMwdhm]?)")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}
# Each start/end function's own unit: startOfMonth(-1) is the start of last month.
DATE_FUNCTIONS = {
    "startofday": "d", "endofday": "d", "startofweek": "w", "endofweek": "w",
    "startofmonth": "M", "endofmonth": "M", "startofyear": "y", "endofyear": "y",
}  # fmt: skip


def parse_date(text: str, kind: str, now: datetime, tz: tzinfo) -> datetime | None:
    """A JQL date operand as an aware datetime; None when Jira would call it invalid.

    Formats: 'yyyy-MM-dd', 'yyyy/MM/dd', either with ' HH:mm' (in `tz`); a period relative to `now`
    ('-7d', '4w 2d', '-1w2d': units w, d, h, m, the sign applying to the whole); an unquoted number is
    epoch milliseconds.
    """
    text = text.strip()
    if kind == "number":
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    if match := _ABSOLUTE.fullmatch(text):
        year, _, month, day, hour, minute = match.groups()
        try:
            return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), tzinfo=tz)
        except ValueError:
            return None
    if match := _PERIOD.fullmatch(text):
        seconds = sum(int(n) * _UNIT_SECONDS[unit.lower()] for n, unit in _PERIOD_PART.findall(match.group(2)))
        return now + timedelta(seconds=-seconds if match.group(1) == "-" else seconds)
    return None


class DateFunctionError(ValueError):
    """A date function called wrongly; the message is Jira's."""


def call_date_function(name: str, args: tuple[str, ...], now: datetime, tz: tzinfo) -> datetime:
    """now(), startOfDay([inc]), endOfDay, startOfWeek (Sunday, as for en_US), ..., endOfYear."""
    lowered = name.lower()
    if lowered == "now":
        if args:
            raise DateFunctionError(f"Function '{name}' expected '0' arguments but received '{len(args)}'.")
        return now
    own_unit = DATE_FUNCTIONS[lowered]
    if len(args) > 1:
        raise DateFunctionError(f"Function '{name}' expected between '0' and '1' arguments but received '{len(args)}'.")
    amount, unit = 0, own_unit
    if args:
        match = _INCREMENT.fullmatch(args[0].strip())
        if not match:
            raise DateFunctionError(
                f"Duration for function '{name}' should have the format (+/-)n(yMwdm), e.g -1M for 1 month earlier."
            )
        amount = -int(match.group(2)) if match.group(1) == "-" else int(match.group(2))
        unit = match.group(3) or own_unit
    local = now.astimezone(tz)
    if unit == own_unit:  # move by whole periods first: endOfMonth(-1) is the last day of last month
        local, amount = _shift(local, amount, unit), 0
    start = _period_start(local, own_unit)
    edge = start if lowered.startswith("start") else _shift(start, 1, own_unit) - timedelta(milliseconds=1)
    return _shift(edge, amount, unit)


def _period_start(local: datetime, unit: str) -> datetime:
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        return day - timedelta(days=(day.weekday() + 1) % 7)
    if unit == "M":
        return day.replace(day=1)
    if unit == "y":
        return day.replace(month=1, day=1)
    return day


def _shift(moment: datetime, amount: int, unit: str) -> datetime:
    if unit in ("M", "y"):
        months = moment.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day)
    return moment + timedelta(seconds=amount * _UNIT_SECONDS[unit.lower()])
