"""The book's explorable figures: gradient descent's learning rate (chapter 1), optimizer paths (chapter 2),
polynomial fits (chapter 3) and a convolution's receptive field (chapter 5).

Each builder takes results that the chapter computed with its own code and returns an
`explore.Explorable`: the page filters those precomputed results as the reader moves the controls.
"""

import altair as alt
import numpy as np

from .explore import Explorable, explorable

# --- Chapter 2: optimizer paths on a loss surface ------------------------------------------------


def _rounded(values, digits: int = 3) -> list[float]:
    """Numbers to ``digits`` significant digits: enough to draw, a third of the bytes."""
    return [float(f"{v:.{digits}g}") for v in values]


def _contour_lines(surface, limits, levels, resolution: int = 120) -> list[dict]:
    """Contour lines of ``surface`` over ``limits`` as rows ``{"k", "x": [...], "y": [...]}``."""
    import contourpy

    t0, t1 = np.meshgrid(np.linspace(*limits[:2], resolution), np.linspace(*limits[2:], resolution))
    generator = contourpy.contour_generator(t0, t1, surface(np.stack([t0, t1], axis=-1)))
    lines = [line for level in levels for line in generator.lines(level)]
    return [{"k": k, "x": _rounded(line[:, 0]), "y": _rounded(line[:, 1])} for k, line in enumerate(lines)]


def _run_row(run: dict, surface, max_loss: float) -> dict:
    """A run as one row: optimizer, log10 learning rate, momentum (-1: none), path and losses."""
    path = np.asarray(run["path"], dtype=float)
    loss = surface(path)
    keep = np.cumprod(np.isfinite(loss) & (loss < max_loss)).astype(bool)  # cut a diverging path
    path, loss = path[keep], np.maximum(loss[keep], 1e-12)  # log axes need positive losses
    momentum = run.get("momentum")
    return {
        "o": run["optimizer"],
        "e": round(float(np.log10(run["lr"])), 3),
        "m": -1.0 if momentum is None else round(float(momentum), 3),
        "s": list(range(len(path))),
        "x": _rounded(path[:, 0]),
        "y": _rounded(path[:, 1]),
        "l": _rounded(loss),
    }


def _slider(name: str, grid: list, label: str, value) -> tuple:
    """A slider over an evenly spaced ``grid``, and a test that a row's value is the slider's."""
    step = round(float(np.diff(grid).min()), 3) if len(grid) > 1 else 1.0
    bind = alt.binding_range(min=grid[0], max=grid[-1], step=step, name=label)
    return alt.param(name=name, value=value, bind=bind), f"abs(datum.{{field}} - {name}) < {step / 2}"


def _path_controls(rows: list[dict]) -> tuple[list, str, str]:
    """The controls, the filter that keeps the chosen run, and the map's title expression."""
    names = list(dict.fromkeys(r["o"] for r in rows))
    exponents, momenta = sorted({r["e"] for r in rows}), sorted({r["m"] for r in rows} - {-1.0})
    chooser = alt.param(name="optimizer", value=names[0], bind=alt.binding_select(options=names, name="optimizer "))
    lr, near_lr = _slider("log_lr", exponents, "learning rate, log10 η ", exponents[len(exponents) // 2])
    params, chosen = [chooser, lr], "datum.o == optimizer && " + near_lr.format(field="e")
    title = "optimizer + ', η = ' + format(pow(10, log_lr), '.3g')"
    if momenta:
        beta, near_beta = _slider("momentum", momenta, "momentum β ", momenta[-1])
        params.append(beta)
        chosen += f" && (datum.m < 0 || {near_beta.format(field='m')})"
        with_momentum = sorted({r["o"] for r in rows if r["m"] >= 0})  # the optimizers the slider applies to
        title += f" + (indexof({with_momentum}, optimizer) >= 0 ? ', β = ' + momentum : '')"
    return params, chosen, title


def _path_map(path, limits, title: str, labels: tuple[str, str] = ("θ₀", "θ₁"), minimum=(0.0, 0.0)):
    """Contour lines of the surface, the chosen run's path, and the minimum (a cross).

    ``title`` is a Vega expression (it may name the chart's parameters).
    """
    x = alt.X("x:Q", scale=alt.Scale(domain=list(limits[:2]), nice=False), title=labels[0])
    y = alt.Y("y:Q", scale=alt.Scale(domain=list(limits[2:]), nice=False), title=labels[1])
    contours = alt.Chart(alt.Data(name="contours")).transform_flatten(["x", "y"])
    contours = contours.transform_window(i="row_number()", groupby=["k"])
    contours = contours.mark_line(color="#bbbbbb", strokeWidth=0.8, clip=True).encode(x, y, detail="k:N", order="i:Q")
    tooltip = [alt.Tooltip("s:Q", title="step"), alt.Tooltip("l:Q", title="loss", format=".3g")]
    walk = path.mark_line(point=alt.OverlayMarkDef(size=18), color="#0072B2", clip=True)
    walk = walk.encode(x, y, order="s:Q", tooltip=tooltip)
    goal = alt.Chart(alt.Data(values=[{"x": float(minimum[0]), "y": float(minimum[1])}]))
    layers = alt.layer(contours, walk, goal.mark_point(shape="cross", size=120, color="black").encode(x="x:Q", y="y:Q"))
    return layers.properties(width=330, height=250, title=alt.Title(text=alt.expr(title)))


def _loss_curve(path, threshold: float | None):
    """The chosen run's loss at every step (log scale), with the threshold as a dashed line."""
    loss = path.mark_line(point=alt.OverlayMarkDef(size=14, color="#D55E00"), color="#D55E00")
    loss = loss.encode(x=alt.X("s:Q", title="step"), y=alt.Y("l:Q", title="loss", scale=alt.Scale(type="log")))
    if threshold is not None:
        rule = alt.Chart(alt.Data(values=[{"t": threshold}])).mark_rule(strokeDash=[4, 3], color="#555555")
        loss = alt.layer(loss, rule.encode(y="t:Q"))
    return loss.properties(width=200, height=250, title="loss at each step")


def path_explorer(
    runs: list[dict],
    surface,
    limits: tuple,
    levels,
    description: str,
    threshold: float | None = None,
    title: str = "",
    max_loss: float = 1e4,
) -> Explorable:
    """Optimizer paths on a 2-D loss surface, with the optimizer, learning rate and momentum as controls.

    Args:
        runs: one dict per precomputed run: ``{"optimizer": str, "lr": float, "momentum": float or
            None, "path": array of shape (T + 1, 2)}``. The learning rates must lie on a grid evenly
            spaced in log10, the momenta on an evenly spaced grid; ``momentum`` is None for the
            optimizers it does not apply to.
        surface: the loss, a function of an array of shape (..., 2) returning shape (...).
        limits: ``(x_min, x_max, y_min, y_max)`` of the map.
        levels: the loss values of the contour lines.
        description: what the figure shows and what the controls change (see `explorable`).
        threshold: a loss level to mark on the loss curve, or None.
        title: what the figure shows, above it.
        max_loss: a path is cut where its loss first exceeds this (it has diverged).
    Returns:
        An `Explorable`: the map of the chosen run's path and, beside it, its loss at every step.
    """
    rows = [_run_row(run, surface, max_loss) for run in runs]
    params, chosen, heading = _path_controls(rows)
    path = alt.Chart(alt.Data(name="runs")).transform_filter(chosen).transform_flatten(["s", "x", "y", "l"])
    chart = alt.hconcat(_path_map(path, limits, heading), _loss_curve(path, threshold))
    chart = chart.add_params(*params).properties(title=title).configure(background="white")
    return explorable(chart, description, {"runs": rows, "contours": _contour_lines(surface, limits, levels)})


# --- Chapter 5: what a convolution's output cell sees --------------------------------------------

_CONV_CONTROLS = {
    "kernel": ("kernel size F ", "F"),
    "stride": ("stride S ", "S"),
    "padding": ("padding P ", "P"),
    "dilation": ("dilation r ", "r"),
}
_CELL_COLORS = {
    "input": "#cfe3f3",
    "padding (zeros)": "#e6e6e6",
    "feeds the chosen output": "#E69F00",
    "output": "#cfe3f3",
    "the chosen output": "#E69F00",
}
# An input cell (row, column) feeds output (i, j) if row + P = i S + u r for a kernel row u in
# 0..F-1 (r: the dilation), and likewise for the column: u and v are row + P - i S and column + P - j S.
_FEEDS = (
    "datum.n > 0 && datum.u % dilation == 0 && datum.u >= 0 && datum.u / dilation < kernel"
    " && datum.v % dilation == 0 && datum.v >= 0 && datum.v / dilation < kernel"
)
_INSIDE = "datum.r >= 0 && datum.r < datum.size && datum.c >= 0 && datum.c < datum.size"
_PADDED = (
    "datum.r >= -padding && datum.r < datum.size + padding && datum.c >= -padding && datum.c < datum.size + padding"
)
_LABEL = "'row ' + datum.r + ', column ' + datum.c + ': ' + datum.kind"


def _conv_params(sizes: list[dict], max_out: int) -> list:
    """Sliders for F, S, P, r (over the values in ``sizes``) and for the chosen output cell."""
    params = []
    for name, (label, key) in _CONV_CONTROLS.items():
        values = sorted({row[key] for row in sizes})
        bind = alt.binding_range(min=values[0], max=values[-1], step=1, name=label)
        params.append(alt.param(name=name, value=values[len(values) // 2], bind=bind))
    for name, label in [("out_row", "chosen output row "), ("out_col", "chosen output column ")]:
        bind = alt.binding_range(min=0, max=max_out - 1, step=1, name=label)
        params.append(alt.param(name=name, value=0, bind=bind))
    return params


def _conv_cells(name: str, size: int):
    """Grid cells with the output size n (from the chapter's table) and the chosen output (i, j)."""
    sizes = alt.LookupData(alt.Data(name="sizes"), key="key", fields=["n"])
    chart = alt.Chart(alt.Data(name=name))
    chart = chart.transform_calculate(key="kernel + ',' + stride + ',' + padding + ',' + dilation")
    chart = chart.transform_lookup(lookup="key", from_=sizes)
    return chart.transform_calculate(i="min(out_row, datum.n - 1)", j="min(out_col, datum.n - 1)", size=str(size))


def _conv_grid(chart, title: str, what: str):
    """Cells as squares coloured by their kind, each with a text label for screen readers."""
    scale = alt.Scale(domain=list(_CELL_COLORS), range=list(_CELL_COLORS.values()))
    color = alt.Color("kind:N", title=None, legend=alt.Legend(orient="bottom"), scale=scale)
    axis = alt.Axis(ticks=False, labelAngle=0, title=None)
    encoding = {"description": alt.Description("label:N"), "tooltip": alt.Tooltip("label:N", title=what)}
    squares = chart.mark_rect(stroke="white", strokeWidth=2)
    squares = squares.encode(x=alt.X("c:O", axis=axis), y=alt.Y("r:O", axis=axis), color=color, **encoding)
    return squares.properties(width=alt.Step(26), height=alt.Step(26), title=title)


def _conv_formula(size: int):
    """The title: the settings and the output-size formula with its value, computed in the page."""
    n = f"(floor(({size} + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1)"
    return alt.expr(
        "'F = ' + kernel + ', S = ' + stride + ', P = ' + padding + ', r = ' + dilation + ': output size "
        f"⌊({size} + 2·' + padding + ' − ' + dilation + '·(' + kernel + ' − 1) − 1) / ' + stride + '⌋ + 1 = '"
        f" + {n} + ({n} < 1 ? ', the kernel does not fit' : '')"
    )


def conv_explorer(sizes: list[dict], input_size: int, description: str) -> Explorable:
    """Which input cells feed an output cell of a convolution, for any kernel size, stride, padding and dilation.

    Args:
        sizes: the output size for each setting, one row ``{"F", "S", "P", "r", "n"}`` per
            combination of kernel size, stride, padding and dilation on an ``input_size`` square
            (computed by the chapter with `nn.Conv2d`; ``n = 0`` where the kernel does not fit).
        input_size: the height (= width) H of the input.
        description: what the figure shows and what the controls change (see `explorable`).
    Returns:
        An `Explorable`: the padded input and the output grid side by side, the settings and the
        formula ``floor((H + 2P - r(F - 1) - 1) / S) + 1`` with its value in the title.
    """
    max_pad, max_out = max(r["P"] for r in sizes), max(r["n"] for r in sizes)
    rows = [{**row, "key": f"{row['F']},{row['S']},{row['P']},{row['r']}"} for row in sizes]
    span = range(-max_pad, input_size + max_pad)
    source = _conv_cells("cells", input_size).transform_filter(_PADDED)
    offsets = {"u": "datum.r + padding - datum.i * stride", "v": "datum.c + padding - datum.j * stride"}
    source = source.transform_calculate(**offsets)
    kind = f"({_FEEDS}) ? 'feeds the chosen output' : ({_INSIDE}) ? 'input' : 'padding (zeros)'"
    source = source.transform_calculate(kind=kind).transform_calculate(label=_LABEL)
    target = _conv_cells("out_cells", input_size).transform_filter("datum.r < datum.n && datum.c < datum.n")
    chosen = "datum.r == datum.i && datum.c == datum.j ? 'the chosen output' : 'output'"
    target = target.transform_calculate(kind=chosen).transform_calculate(label=_LABEL)
    grids = [
        _conv_grid(source, f"input ({input_size}×{input_size}) and padding", "input cell"),
        _conv_grid(target, "output", "output cell"),
    ]
    chart = (
        alt.hconcat(*grids)
        .add_params(*_conv_params(rows, max_out))
        .properties(title=alt.Title(text=_conv_formula(input_size)))
    )
    datasets = {
        "sizes": rows,
        "cells": [{"r": r, "c": c} for r in span for c in span],
        "out_cells": [{"r": r, "c": c} for r in range(max_out) for c in range(max_out)],
    }
    return explorable(chart.configure(background="white"), description, datasets)


# --- Chapter 3: polynomial fits for each degree and training-set size ---------------------------


def _fit_rows(train_sets: dict, test_set: tuple, x_grid, fit, predict, degrees, floor: float) -> tuple:
    """Rows of every fit on the grid ``{"n", "d", "x", "y"}`` and of its errors ``{"n", "d", "train", "test"}``."""
    x_test, y_test = (np.asarray(a, dtype=float) for a in test_set)
    curves, errors = [], []
    for n, (x, y) in train_sets.items():
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        for d in degrees:
            w = fit(x, y, d)
            curves.append({"n": n, "d": d, "y": _rounded(predict(w, x_grid))})
            train, test = (float(np.mean((predict(w, xs) - ys) ** 2)) for xs, ys in [(x, y), (x_test, y_test)])
            errors.append({"n": n, "d": d, "train": _rounded([max(train, floor)])[0], "test": _rounded([test])[0]})
    return curves, errors


def fit_explorer(
    train_sets: dict,
    test_set: tuple,
    x_grid,
    truth,
    fit,
    predict,
    degrees,
    description: str,
    y_range: tuple = (-2.5, 8.5),
    floor: float = 1e-4,
) -> Explorable:
    """Polynomial fits for each degree and training-set size, beside their training and test MSE.

    Args:
        train_sets: ``{N: (x, y)}``, one training set (arrays of shape (N,)) per size; the sizes
            evenly spaced, so that a slider can step through them.
        test_set: ``(x_test, y_test)``, arrays of shape (M,).
        x_grid: where to draw the fits, shape (G,).
        truth: the true curve on ``x_grid``, shape (G,).
        fit: ``fit(x, y, degree)`` returns a fit's weights (the chapter's ``fit_polynomial``).
        predict: ``predict(w, x)`` returns its predictions at ``x`` (``predict_polynomial``).
        degrees: the degrees to offer, consecutive integers.
        description: what the figure shows and what the controls change (see `explorable`).
        y_range: the fit panel's vertical range (fits that leave it are cut).
        floor: training errors below it are drawn at it (log axis; an interpolating fit has 0).
    Returns:
        An `Explorable`: the chosen fit with its training points and the true curve, and beside it
        the training and test MSE of every degree for the chosen size, the chosen degree marked.
    """
    degrees, sizes = [int(d) for d in degrees], sorted(train_sets)
    grid = _rounded(x_grid)
    curves, errors = _fit_rows(train_sets, test_set, np.asarray(x_grid, dtype=float), fit, predict, degrees, floor)
    points = [{"n": n, "x": _rounded(x), "y": _rounded(y)} for n, (x, y) in train_sets.items()]
    degree, _ = _slider("degree", degrees, "polynomial degree d ", degrees[len(degrees) // 2])
    size, near_size = _slider("size", sizes, "training points N ", sizes[0])
    chosen_size = near_size.format(field="n")
    x = alt.X("x:Q", title="x", scale=alt.Scale(domain=[float(grid[0]), float(grid[-1])], nice=False))
    y = alt.Y("y:Q", title="y", scale=alt.Scale(domain=list(y_range), nice=False))
    true_curve = alt.Chart(alt.Data(values=[{"x": grid, "y": _rounded(truth)}])).transform_flatten(["x", "y"])
    fitted = alt.Chart(alt.Data(name="curves")).transform_filter(f"{chosen_size} && datum.d == degree")
    fitted = fitted.transform_calculate(x=str(grid)).transform_flatten(["x", "y"])
    dots = alt.Chart(alt.Data(name="points")).transform_filter(chosen_size).transform_flatten(["x", "y"])
    fit_panel = alt.layer(
        true_curve.mark_line(color="black", strokeWidth=2.5, clip=True).encode(x, y),
        fitted.mark_line(color="#0072B2", strokeWidth=2, clip=True).encode(x, y),
        dots.mark_circle(color="black", size=40, opacity=1, clip=True).encode(x, y),
    ).properties(width=330, height=260, title=alt.Title(alt.expr("'degree ' + degree + ' fit to ' + size + ' points'")))
    by_degree = alt.Chart(alt.Data(name="errors")).transform_filter(chosen_size)
    by_degree = by_degree.transform_fold(["train", "test"], as_=["set", "mse"])
    colors = alt.Color("set:N", title=None, scale=alt.Scale(domain=["train", "test"], range=["#0072B2", "#D55E00"]))
    highest = max(max(row["train"], row["test"]) for row in errors)  # one scale for every N, to compare them
    mse_axis = alt.Y("mse:Q", title="mean squared error", scale=alt.Scale(type="log", domain=[floor, highest]))
    d_axis = alt.X("d:Q", title="polynomial degree", axis=alt.Axis(tickMinStep=1))
    error_panel = alt.layer(
        by_degree.mark_line(point=True).encode(d_axis, mse_axis, colors),
        by_degree.transform_filter("datum.d == degree")
        .mark_point(size=160, filled=False, color="black")
        .encode(d_axis, mse_axis),
    ).properties(width=260, height=260, title="training and test MSE against degree")
    chart = alt.hconcat(fit_panel, error_panel).add_params(degree, size).configure(background="white")
    return explorable(chart, description, {"curves": curves, "points": points, "errors": errors})


# --- Chapter 1: gradient descent on a loss surface, the learning rate on a slider -----------------


def descent_explorer(
    paths: dict[float, np.ndarray],
    surface,
    limits: tuple,
    levels,
    minimum: tuple[float, float],
    description: str,
    labels: tuple[str, str] = ("w", "b"),
    max_loss: float = 1e4,
) -> Explorable:
    """Gradient-descent paths on a 2-D loss surface, one per learning rate, with the rate on a slider.

    Args:
        paths: learning rate -> the path from the start, an array of shape (T + 1, 2); the rates
            evenly spaced.
        surface: the loss, a function of an array of shape (..., 2) returning shape (...).
        limits: ``(x_min, x_max, y_min, y_max)`` of the map.
        levels: the loss values of the contour lines.
        minimum: the minimum's two coordinates, marked with a cross.
        description: what the figure shows and what the slider changes (see `explorable`).
        labels: the names of the two parameters, for the axes.
        max_loss: a path is cut where its loss first exceeds this (it has diverged).
    Returns:
        An `Explorable`: the map with the chosen rate's path and, beside it, its loss at every step.
    """
    rows = []
    for lr, path in paths.items():
        row = _run_row({"optimizer": "gradient descent", "lr": lr, "path": path}, surface, max_loss)
        rows.append({**row, "r": round(float(lr), 3)})
    rates = sorted(r["r"] for r in rows)
    rate, near = _slider("lr", rates, "learning rate η ", rates[len(rates) // 2])
    path = alt.Chart(alt.Data(name="runs")).transform_filter(near.format(field="r"))
    path = path.transform_flatten(["s", "x", "y", "l"])
    heading = "'gradient descent, η = ' + format(lr, '.2f')"
    surface_map = _path_map(path, limits, heading, labels, minimum)
    chart = alt.hconcat(surface_map, _loss_curve(path, None)).add_params(rate).configure(background="white")
    return explorable(chart, description, {"runs": rows, "contours": _contour_lines(surface, limits, levels)})
