"""One matplotlib style for every kvlab figure (kvlab report, the study notebooks): readable
sizes at report resolution, light grids, no top/right spines, tab10 colours, tight bounding
boxes so titles and labels are never clipped."""

STYLE = {
    "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9,
    "ytick.labelsize": 9, "legend.fontsize": 9, "figure.titlesize": 12,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
    "axes.spines.top": False, "axes.spines.right": False,
    "lines.linewidth": 1.6, "lines.markersize": 4,
    "legend.frameon": False, "savefig.bbox": "tight", "savefig.pad_inches": 0.1,
}


def use_style():
    """Applies STYLE (and the tab10 colour cycle) to matplotlib's rcParams."""
    import matplotlib
    matplotlib.rcParams.update(STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=matplotlib.colormaps["tab10"].colors)
