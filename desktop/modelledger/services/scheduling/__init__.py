"""When scheduled work is due: cron and interval schedules as triggers and as lists of slots,
shared by every feature that runs on a schedule (monitors, retraining)."""
