"""Matplotlib figures for reports, returned as SVG text.

Every plot labels its axes, uses the Okabe-Ito colour-blind-safe palette, and
draws data it is given (tables from result objects); nothing is computed here
beyond layout.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "PALETTE",
    "bar_plot",
    "circumplex_plot",
    "curves_plot",
    "interval_plot",
    "scree_plot",
    "to_svg",
    "variance_components_plot",
    "variant_scores_plot",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "svg.fonttype": "none", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE), "svg.hashsalt": "psychoml",
    })
    return plt


def to_svg(fig) -> str:
    """Serialise a matplotlib figure to SVG text and close it."""
    plt = _plt()
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def scree_plot(observed: Sequence[float], simulated: Sequence[float] | None = None, *,
               title: str = "Scree plot with parallel analysis", n_factors: int | None = None) -> str:
    """Eigenvalues of the data against those of random data (Horn's parallel analysis)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    k = np.arange(1, len(observed) + 1)
    ax.plot(k, observed, "o-", color=PALETTE[0], label="observed")
    if simulated is not None:
        ax.plot(k[: len(simulated)], simulated, "s--", color=PALETTE[1], label="random data (95th percentile)")
    if n_factors:
        ax.axvline(n_factors + 0.5, color="#777", lw=0.8, ls=":")
        ax.text(n_factors + 0.6, max(observed) * 0.9, f"retain {n_factors}", fontsize=9)
    ax.set_xlabel("Factor number")
    ax.set_ylabel("Eigenvalue")
    ax.set_title(title)
    ax.legend(frameon=False)
    return to_svg(fig)


def circumplex_plot(coordinates: pd.DataFrame, *, title: str = "Circumplex: MDS of value intercorrelations") -> str:
    """Two-dimensional configuration (columns ``dim1``, ``dim2``) with each point labelled."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    x, y = coordinates["dim1"].to_numpy(), coordinates["dim2"].to_numpy()
    ax.scatter(x, y, color=PALETTE[0], zorder=3)
    for name, xi, yi in zip(coordinates.index, x, y):
        ax.annotate(str(name).replace("_", " "), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=9)
    r = np.sqrt(x**2 + y**2).mean()
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(r * np.cos(t), r * np.sin(t), color="#999", lw=0.8, ls="--", label="mean radius")
    ax.set_aspect("equal")
    ax.set_xlabel("Dimension 1")
    ax.set_ylabel("Dimension 2")
    ax.set_title(title)
    return to_svg(fig)


def variance_components_plot(components: pd.DataFrame, *, value: str = "percent",
                             title: str = "Variance components (G study)") -> str:
    """Horizontal bars of variance shares, one per component (index = component label)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(components) + 1.2))
    ax.barh([str(i) for i in components.index], components[value].to_numpy(), color=PALETTE[0])
    ax.invert_yaxis()
    ax.set_xlabel("Share of total variance (%)" if value == "percent" else value)
    ax.set_ylabel("Source")
    ax.set_title(title)
    return to_svg(fig)


def interval_plot(frame: pd.DataFrame, *, estimate: str, lower: str, upper: str, group: str | None = None,
                  xlabel: str = "Score", title: str = "") -> str:
    """Point estimates with intervals (a forest plot); rows are labelled by the index, colours by ``group``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(frame) + 1.3))
    labels = [str(i) for i in frame.index]
    ypos = np.arange(len(frame))
    groups = frame[group].astype(str).to_numpy() if group else np.array([""] * len(frame))
    for gi, g in enumerate(dict.fromkeys(groups)):
        m = groups == g
        est = frame[estimate].to_numpy()[m]
        lo = frame[lower].to_numpy()[m]
        hi = frame[upper].to_numpy()[m]
        ax.errorbar(est, ypos[m], xerr=[est - lo, hi - est], fmt="o", color=PALETTE[gi % len(PALETTE)],
                    capsize=2, label=g or None)
    ax.set_yticks(ypos, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    if group and len(set(groups)) > 1:  # one group needs no legend; several get one beside the axes
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return to_svg(fig)


def variant_scores_plot(long: pd.DataFrame, *, scale: str = "scale", variant: str = "variant", score: str = "score",
                        title: str = "Scale scores across prompt variants") -> str:
    """One row per scale: each variant's mean score as a dot, to show how far scores move across prompts."""
    plt = _plt()
    long = long.dropna(subset=[score])
    scales = list(dict.fromkeys(long[scale]))
    variants = list(dict.fromkeys(long[variant]))
    fig, ax = plt.subplots(figsize=(8.0, 0.35 * len(scales) + 1.4))
    for vi, v in enumerate(variants):
        sub = long[long[variant] == v].groupby(scale)[score].mean()
        ys = [scales.index(s) + (vi - (len(variants) - 1) / 2) * 0.08 for s in sub.index]
        ax.plot(sub.to_numpy(), ys, "o", ms=4, color=PALETTE[vi % len(PALETTE)], label=str(v))
    ax.set_yticks(range(len(scales)), [str(s).replace("_", " ") for s in scales])
    ax.invert_yaxis()
    ax.set_xlabel("Mean score")
    ax.set_title(title)
    if len(variants) <= 12:
        # beside the axes, not over the dots it explains
        ax.legend(frameon=False, fontsize=7, title="variant", title_fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))
    return to_svg(fig)


def curves_plot(theta: Sequence[float], curves: pd.DataFrame, *, ylabel: str, title: str,
                xlabel: str = "Ability / trait (θ)") -> str:
    """Curves over θ, one per column (item characteristic or information curves)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for i, col in enumerate(curves.columns):
        ax.plot(theta, curves[col].to_numpy(), color=PALETTE[i % len(PALETTE)], lw=1.2,
                label=str(col) if len(curves.columns) <= 10 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(curves.columns) <= 10:
        ax.legend(frameon=False, fontsize=8)
    return to_svg(fig)


def bar_plot(values: pd.Series, *, xlabel: str, ylabel: str, title: str) -> str:
    """A simple labelled bar chart (e.g. response statuses)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar([str(i) for i in values.index], values.to_numpy(), color=PALETTE[: len(values)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return to_svg(fig)
