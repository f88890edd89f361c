"""Pure ML logic: functions take DataFrames (or plain values) and return DataFrames or
small dataclasses. Nothing here reads environment variables, connections or the clock."""
