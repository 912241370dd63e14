"""Schedules: standard cron expressions and intervals, as triggers and as lists of due slots."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import Schedule, ScheduleKind

MAX_MISSED_RECORDED = 1000  # a long sleep records this many missed slots, and says how many more
MIN_INTERVAL_S = 1
# Standard cron counts weekdays from Sunday = 0 (7 is Sunday too); APScheduler's from_crontab
# counts from Monday = 0. Numbers are turned into names, which both read the same way.
_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expression: str):
    """An APScheduler CronTrigger (UTC) for a standard five-field cron expression."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        raise InvalidInputError(
            f"'{expression}' is not a cron expression: it needs five fields, minute hour "
            "day-of-month month day-of-week, e.g. '0 6 * * 1' for 06:00 on Mondays.")
    fields[4] = ",".join(_weekday_names(part) for part in fields[4].split(","))
    try:
        return CronTrigger(minute=fields[0], hour=fields[1], day=fields[2], month=fields[3],
                           day_of_week=fields[4], timezone=UTC)
    except ValueError as exc:
        raise InvalidInputError(
            f"'{expression}' is not a cron expression ({exc}). Use five fields: minute hour "
            "day-of-month month day-of-week, e.g. '0 6 * * *' for 06:00 daily.") from exc


def _weekday_names(part: str) -> str:
    values, slash, step = part.partition("/")

    def name(match: re.Match) -> str:
        number = int(match[0])
        if number > 7:
            raise InvalidInputError(f"Day of week {number} does not exist (use 0-7 or sun-sat).")
        return _WEEKDAY_NAMES[number]

    return re.sub(r"\d+", name, values) + slash + step


def validate_schedule(schedule: Schedule) -> None:
    if schedule.kind is ScheduleKind.INTERVAL:
        try:
            seconds = int(schedule.expression)
        except ValueError:
            seconds = 0
        if seconds < MIN_INTERVAL_S:
            raise InvalidInputError("An interval schedule needs a whole number of seconds >= 1.")
        return
    cron_trigger(schedule.expression)


def build_trigger(schedule: Schedule, anchor: datetime):
    """The APScheduler trigger that wakes this instance up for a monitor's slots."""
    from apscheduler.triggers.interval import IntervalTrigger

    if schedule.kind is ScheduleKind.INTERVAL:
        return IntervalTrigger(seconds=int(schedule.expression), start_date=anchor, timezone=UTC)
    return cron_trigger(schedule.expression)


def due_slots(schedule: Schedule, anchor: datetime, after: datetime | None, now: datetime,
              limit: int = MAX_MISSED_RECORDED + 1) -> tuple[list[datetime], int]:
    """The slots in (after, now] (from the anchor on when ``after`` is None): the newest
    ``limit`` of them, oldest first, and how many older ones were left out.

    Every instance computes the same slots from the same row, to the microsecond, which is
    what lets the unique (monitor, slot) constraint pick one winner."""
    if schedule.kind is ScheduleKind.INTERVAL:
        step = timedelta(seconds=int(schedule.expression))
        last = (now - anchor) // step
        first = 0 if after is None or after < anchor else (after - anchor) // step + 1
        if last < first:
            return [], 0
        kept_from = max(first, last - limit + 1)
        return [anchor + k * step for k in range(kept_from, last + 1)], kept_from - first
    trigger = build_trigger(schedule, anchor)
    start = after + timedelta(microseconds=1) if after is not None else anchor
    slots: list[datetime] = []
    skipped = 0
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment <= now:
        slots.append(moment)
        if len(slots) > limit:
            slots.pop(0)
            skipped += 1
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return slots, skipped
