"""Schedules: the nightly run of the previous business date, and the month-end close on the
first business days of the next month (preliminary, then final), in the site's time zone."""

import datetime as dt

import dagster as dg

from assets.jobs import close_job, nightly_job
from assets.site import SITE_TIMEZONE

NIGHTLY_CRON = "0 2 * * *"
CLOSE_CRON = "0 6 * * 1-5"  # every weekday at 06:00; the tick decides whether it is a close day
PRELIMINARY_BUSINESS_DAY = 1
FINAL_BUSINESS_DAY = 3


def business_day_of_month(day: dt.date) -> int | None:
    """1 for the month's first weekday, 2 for the second...; None on Saturdays and Sundays."""
    if day.weekday() >= 5:
        return None
    first = day.replace(day=1)
    return sum(1 for n in range(day.day) if (first + dt.timedelta(days=n)).weekday() < 5)


def previous_month_partition(day: dt.date) -> str:
    """The monthly partition key (YYYY-MM-01) of the month before `day`'s."""
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1).isoformat()


@dg.schedule(
    name="nightly_schedule",
    cron_schedule=NIGHTLY_CRON,
    job=nightly_job,
    execution_timezone=SITE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:00 site time: land, stage and reconcile the previous business date; the "
    "rules re-reconcile the rolling window of service dates that ends on it.",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    business_date = context.scheduled_execution_time.date() - dt.timedelta(days=1)
    key = business_date.isoformat()
    return dg.RunRequest(run_key=f"nightly-{key}", partition_key=key,
                         tags={"chartledger/business_date": key})


def _close_request(context: dg.ScheduleEvaluationContext, business_day: int, kind: str):
    today = context.scheduled_execution_time.date()
    number = business_day_of_month(today)
    if number != business_day:
        return dg.SkipReason(f"{today} is business day {number or '-'} of the month; the "
                             f"{kind} close runs on business day {business_day}")
    period = previous_month_partition(today)
    preliminary = kind == "preliminary"
    return dg.RunRequest(
        run_key=f"close-{period[:7]}-{kind}", partition_key=period,
        run_config={"ops": {"reports__close_package": {"config": {"preliminary": preliminary}}}},
        tags={"chartledger/close": kind},
    )


@dg.schedule(
    name="close_preliminary_schedule",
    cron_schedule=CLOSE_CRON,
    job=close_job,
    execution_timezone=SITE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"06:00 on business day {PRELIMINARY_BUSINESS_DAY} of the month (Monday to "
    "Friday): the previous month's close package, PRELIMINARY.",
)
def close_preliminary_schedule(context: dg.ScheduleEvaluationContext):
    return _close_request(context, PRELIMINARY_BUSINESS_DAY, "preliminary")


@dg.schedule(
    name="close_final_schedule",
    cron_schedule=CLOSE_CRON,
    job=close_job,
    execution_timezone=SITE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"06:00 on business day {FINAL_BUSINESS_DAY} of the month: the previous month's "
    "final close package (refused, and alerted, if its last day is not reconciled).",
)
def close_final_schedule(context: dg.ScheduleEvaluationContext):
    return _close_request(context, FINAL_BUSINESS_DAY, "final")


SCHEDULES = [nightly_schedule, close_preliminary_schedule, close_final_schedule]
