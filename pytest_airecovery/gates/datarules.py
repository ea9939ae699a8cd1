"""The data rules every metric source must meet, whichever produced the MetricData.

The export reader applies them row by row (so its messages name the row); sources from a hook or
from Prometheus build `MetricData` themselves, so the gate checks the result once more here,
before any criterion reads it. Breaking a rule is a `GateSourceError` (every gate item ERROR,
decision hold): a verdict on data that cannot be right would be a guess. The rules, documented
in docs/gates.md ("Data rules"):

- timestamps are finite epoch seconds between 1970 and the year 3000, in increasing order,
  one sample per (metric, arm) and moment;
- no sample is later than the source's reference time (`exported_at`), and that reference time
  is not in the future of this machine's clock (less `CLOCK_SKEW` of tolerance); without a
  reference time no sample may be in the future;
- traffic shares are fractions in [0, 1] (NaN stays: the criteria report it as INCONCLUSIVE);
- values and trials have one entry per timestamp.
"""

from __future__ import annotations

import numpy as np

from pytest_airecovery.gates.errors import GateSourceError
from pytest_airecovery.gates.sources import MetricData, Series
from pytest_airecovery.gates.timeutil import MAX_EPOCH_SECONDS, format_timestamp

# Clocks of the CI runner and the monitoring system disagree by a few seconds at most when both
# run NTP; a minute of tolerance keeps a fresh export from failing on that alone.
CLOCK_SKEW = 60.0


def _check_series(label: str, series: Series, where: str) -> None:
    stamps = series.timestamps
    if series.values.shape != stamps.shape or (
        series.trials is not None and series.trials.shape != stamps.shape
    ):
        raise GateSourceError(f"{where}: {label}: timestamps, values and trials differ in length")
    if stamps.size == 0:
        return
    bad = ~np.isfinite(stamps) | (stamps < 0) | (stamps > MAX_EPOCH_SECONDS)
    if bad.any():
        index = int(np.argmax(bad))
        raise GateSourceError(
            f"{where}: {label}: timestamp {stamps[index]!r} (point {index}) is not epoch seconds "
            "between 1970 and 3000 (milliseconds?)"
        )
    steps = np.diff(stamps)
    if (steps <= 0).any():
        index = int(np.argmax(steps <= 0)) + 1
        problem = "repeats" if steps[index - 1] == 0 else "goes back to"
        raise GateSourceError(
            f"{where}: {label}: point {index} {problem} {format_timestamp(float(stamps[index]))}; "
            "samples must be in increasing time order, one per moment"
        )


def validate_metric_data(data: MetricData, wall_clock: float) -> None:
    """Raise GateSourceError when `data` breaks a data rule; return quietly otherwise."""
    where = data.description
    labelled = [(f"{metric} ({arm})", series) for (metric, arm), series in data.series.items()]
    labelled += [("traffic_share", data.traffic), ("user_reports", data.user_reports)]
    latest: tuple[float, str] | None = None
    for label, series in labelled:
        _check_series(label, series, where)
        if series.size and (latest is None or series.timestamps[-1] > latest[0]):
            latest = (float(series.timestamps[-1]), label)
    shares = data.traffic.values
    outside = (shares < 0) | (shares > 1)
    if outside.any():
        index = int(np.argmax(outside))
        raise GateSourceError(
            f"{where}: traffic_share {shares[index]:g} at "
            f"{format_timestamp(float(data.traffic.timestamps[index]))} is not a fraction in [0, 1]"
        )
    if data.as_of is not None:
        if data.as_of > wall_clock + CLOCK_SKEW:
            raise GateSourceError(
                f"{where}: exported_at {format_timestamp(data.as_of)} is in the future (this "
                f"machine's clock says {format_timestamp(wall_clock)}); data from the future is "
                "a clock or time-zone error, never fresh"
            )
        if latest is not None and latest[0] > data.as_of:
            raise GateSourceError(
                f"{where}: {latest[1]} has a sample at {format_timestamp(latest[0])}, after the "
                f"source's exported_at {format_timestamp(data.as_of)}"
            )
    elif latest is not None and latest[0] > wall_clock + CLOCK_SKEW:
        raise GateSourceError(
            f"{where}: {latest[1]} has a sample at {format_timestamp(latest[0])}, in the future "
            f"of this machine's clock ({format_timestamp(wall_clock)}); a clock or time-zone error"
        )
