"""The reports' charts (matplotlib, Agg, PNG bytes), sized to be read inline in an e-mail 680 px
wide: French labels, the target as a dashed red line, the report's period in a darker colour,
last year as a grey line. Pure functions of the data they are given.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

_INK, _CURRENT, _PAST, _TARGET, _YEAR, _BAND = "#2c3e50", "#1f618d", "#a9cce3", "#c0392b", "#7f8c8d", "#aed6f1"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.titlelocation": "left",
                         "axes.spines.top": False, "axes.spines.right": False,
                         "axes.formatter.use_locale": False})  # fmt: skip
    return plt


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def fr_number(value: float, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}".replace(",", " ").replace(".", ",")


def _fr_axis(ax, decimals: int = 0, suffix: str = "", scale: float = 1.0) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fr_number(v * scale, decimals) + suffix))


@dataclass(frozen=True)
class Panel:
    """One small chart: values per period label, the target, how to read the axis."""

    title: str
    labels: Sequence[str]
    values: Sequence[float | None]
    target: float | None = None
    last_year: Sequence[float | None] | None = None
    decimals: int = 0
    suffix: str = ""
    scale: float = 1.0  # 100 for a share shown in %
    highlight_last: bool = True


def _draw(ax, p: Panel, max_labels: int = 8) -> None:
    xs = list(range(len(p.labels)))
    ys = [float("nan") if v is None else float(v) * p.scale for v in p.values]
    colours = [_CURRENT if (p.highlight_last and i == len(xs) - 1) else _PAST for i in xs]
    ax.bar(xs, ys, color=colours, width=0.7, label="période")
    if p.last_year is not None and any(v is not None for v in p.last_year):
        ly = [float("nan") if v is None else float(v) * p.scale for v in p.last_year]
        ax.plot(xs, ly, color=_YEAR, linestyle=":", marker="o", markersize=3, linewidth=1.4, label="un an avant")
    if p.target is not None:
        ax.axhline(float(p.target) * p.scale, color=_TARGET, linestyle="--", linewidth=1.2,
                   label=f"cible {fr_number(float(p.target) * p.scale, p.decimals)}{p.suffix}")  # fmt: skip
    if ys and ys[-1] == ys[-1]:
        ax.annotate(fr_number(ys[-1], p.decimals) + p.suffix, (xs[-1], ys[-1]), textcoords="offset points",
                    xytext=(0, 3), ha="center", fontsize=8, color=_INK, fontweight="bold")  # fmt: skip
    ax.set_xticks(xs)
    step = max(1, -(-len(xs) // max_labels))
    ax.set_xticklabels([lab if (len(xs) - 1 - i) % step == 0 else "" for i, lab in enumerate(p.labels)],
                       fontsize=8)  # fmt: skip
    ax.set_title(p.title)
    ax.grid(axis="y", color="#eeeeee")
    ax.set_axisbelow(True)
    _fr_axis(ax, p.decimals if p.scale == 1 else 0, "", 1.0)
    handles = ax.get_legend_handles_labels()[1]
    if len(handles) > 1:
        ax.legend(frameon=False, fontsize=7, loc="best")


def bars_png(panel: Panel, width: float = 7.2, height: float = 2.8) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(width, height))
    _draw(ax, panel)
    return _png(plt, fig)


def panels_png(panels: Sequence[Panel], columns: int = 2) -> bytes:
    """Several small charts in a grid (the quarterly evolution, the monthly quality trend)."""
    plt = _plt()
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(7.2, 2.5 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        _draw(ax, panel, max_labels=6 if columns > 1 else 8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    return _png(plt, fig)


def daily_calls_png(days: Sequence, calls: Sequence[float], threshold: Sequence[float | None],
                    highlight=None, title: str = "Appels par jour (4 dernières semaines)") -> bytes:  # fmt: skip
    """Calls per day, the overload threshold, the report's day marked."""
    import matplotlib.dates as mdates

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    colours = [_CURRENT if d == highlight else _PAST for d in days]
    ax.bar(list(days), [float(c) for c in calls], color=colours, width=0.8)
    if any(t is not None for t in threshold):
        ax.plot(list(days), [float("nan") if t is None else float(t) for t in threshold], color=_TARGET,
                linestyle="--", linewidth=1.2, label="seuil de surcharge")  # fmt: skip
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m"))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=5, maxticks=9))
    ax.set_title(title)
    ax.grid(axis="y", color="#eeeeee")
    ax.set_axisbelow(True)
    return _png(plt, fig)


def retention_curve_png(months: Sequence[float], survival: Sequence[float], lower: Sequence[float],
                        upper: Sequence[float], customers: int, losses: int) -> bytes:  # fmt: skip
    """Kaplan-Meier retention curve with its 95 % confidence band."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    ax.fill_between(list(months), [v * 100 for v in lower], [v * 100 for v in upper], step="post", color=_BAND,
                    alpha=0.6, label="intervalle de confiance 95 %")  # fmt: skip
    ax.step(list(months), [v * 100 for v in survival], where="post", color=_CURRENT, linewidth=1.8,
            label="part des clients encore actifs")  # fmt: skip
    ax.set_ylim(max(0, min(v * 100 for v in lower) - 5), 101)
    ax.set_xlabel("mois depuis l'arrivée du client")
    _fr_axis(ax, 0, " %")
    ax.set_title(f"Courbe de rétention (Kaplan-Meier) — {fr_number(customers)} clients, {fr_number(losses)} départs")
    ax.grid(color="#eeeeee")
    ax.legend(frameon=False, fontsize=7, loc="lower left")
    return _png(plt, fig)
