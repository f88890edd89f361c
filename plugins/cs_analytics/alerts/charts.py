"""Small PNG charts for messages, where a picture says more than a figure: a KPI's recent trend
against its threshold, the call-volume forecast with its 95 % interval. Pure functions of
the data (matplotlib, Agg backend): the reports reuse them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

_INK, _ALERT, _BAND = "#2c3e50", "#c0392b", "#aed6f1"


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 2.8), dpi=110)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#eeeeee")
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _fmt_dates(ax, days: Sequence[date]) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m"))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=8))


def trend_png(
    title: str,
    days: Sequence[date],
    values: Sequence[float | None],
    threshold: Sequence[float | None] | None = None,
    highlight: date | None = None,
    threshold_label: str = "seuil",
) -> bytes:
    """A KPI over its last periods, its threshold as a dashed line, the alert's period marked."""
    plt, fig, ax = _figure()
    xs = list(days)
    ys = [float("nan") if v is None else float(v) for v in values]
    ax.plot(xs, ys, color=_INK, marker="o", markersize=3, linewidth=1.6)
    if threshold is not None and any(t is not None for t in threshold):
        ts = [float("nan") if t is None else float(t) for t in threshold]
        ax.plot(xs, ts, color=_ALERT, linestyle="--", linewidth=1.2, label=threshold_label)
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    if highlight in xs:
        i = xs.index(highlight)
        ax.scatter([xs[i]], [ys[i]], color=_ALERT, s=60, zorder=5)
    ax.set_title(title, fontsize=10, loc="left")
    _fmt_dates(ax, xs)
    ax.tick_params(labelsize=8)
    return _png(plt, fig)


def forecast_png(
    title: str,
    history_days: Sequence[date],
    history: Sequence[float],
    forecast_days: Sequence[date],
    yhat: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    threshold: float | None = None,
) -> bytes:
    """Recent calls, then the forecast with its 95 % interval, against the overload threshold."""
    plt, fig, ax = _figure()
    ax.plot(list(history_days), list(history), color=_INK, linewidth=1.4, label="appels reçus")
    ax.fill_between(list(forecast_days), list(lower), list(upper), color=_BAND, alpha=0.7, label="intervalle 95 %")
    ax.plot(list(forecast_days), list(yhat), color="#2874a6", linewidth=1.6, label="prévision")
    if threshold is not None:
        ax.axhline(threshold, color=_ALERT, linestyle="--", linewidth=1.2, label=f"seuil {threshold:g}")
    above = [(d, y) for d, y in zip(forecast_days, yhat, strict=True) if threshold is not None and y > threshold]
    if above:
        ax.scatter([d for d, _ in above], [y for _, y in above], color=_ALERT, s=30, zorder=5)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(loc="upper left", frameon=False, fontsize=7, ncol=4)
    _fmt_dates(ax, list(history_days) + list(forecast_days))
    ax.tick_params(labelsize=8)
    return _png(plt, fig)
