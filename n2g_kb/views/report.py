"""Evaluation reports: the paper's per-layer table, as Markdown, CSV, JSON and a plot.

`layer_table` averages the per-neuron figures of an `Evaluation` by layer, plus an "all"
row over every scored neuron. Firing-token precision/recall/F1 and both baselines' F1
are averaged over the neurons that have firing tokens in the scored text
(``support > 0``), non-firing figures over those that have non-firing tokens; a neuron
with nothing to find would score a vacuous 1.0, so it is left out of that mean, as the
reference does. `neurons` counts scored neurons, `with_firing` those in the firing
means, `skipped` those that could not be scored (reasons in `skipped_frame`). The
``random_*`` columns are the same figures on the held-out random text the mining pass set
aside (averaged over neurons with firing, resp. non-firing, tokens there; – when none is
stored).

Pure apart from `write_report` / `plot_f1_by_layer`, which write files.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from n2g_kb.errors import ConfigError
from n2g_kb.runners.evaluate import Evaluation

FIRING = ("precision", "recall", "f1")
NONFIRING = ("nonfiring_precision", "nonfiring_recall", "nonfiring_f1")
BASELINES = ("baseline_token_f1", "baseline_ngram_f1")
RANDOM = ("random_f1", "random_nonfiring_f1", "random_baseline_token_f1", "random_baseline_ngram_f1")
"""The same figures on the held-out random text the mining pass set aside (when stored)."""
COUNTS = ("neurons", "with_firing", "skipped")
TABLE_COLUMNS = ("layer", *COUNTS, *FIRING, *NONFIRING, *BASELINES, *RANDOM)
LABELS = {
    "layer": "Layer",
    "neurons": "Neurons",
    "with_firing": "Firing",
    "skipped": "Skipped",
    "precision": "P",
    "recall": "R",
    "f1": "F1",
    "nonfiring_precision": "Non-firing P",
    "nonfiring_recall": "Non-firing R",
    "nonfiring_f1": "Non-firing F1",
    "baseline_token_f1": "Token-lookup F1",
    "baseline_ngram_f1": "N-gram F1",
    "random_f1": "Random-text F1",
    "random_nonfiring_f1": "Random-text non-firing F1",
    "random_baseline_token_f1": "Random-text token-lookup F1",
    "random_baseline_ngram_f1": "Random-text n-gram F1",
}
DATA = {"held-out": "held-out test examples", "corpus": "new text"}
FILES = ("table.md", "table.csv", "table.json", "f1_by_layer.png", "neurons.csv")


def neuron_frame(evaluation: Evaluation) -> pd.DataFrame:
    """One row per selected neuron: layer, neuron, evaluated, skipped (reason) and every figure."""
    rows = [
        {"layer": n.layer, "neuron": n.index, "evaluated": n.evaluated, "skipped": n.skipped or "", **n.metrics}
        for n in evaluation.neurons
    ]
    return pd.DataFrame(rows, columns=None if rows else ["layer", "neuron", "evaluated", "skipped"])


def skipped_frame(evaluation: Evaluation) -> pd.DataFrame:
    """The skipped neurons: layer, neuron, kind (e.g. 'no graph') and the full reason."""
    rows = [
        {"layer": n.layer, "neuron": n.index, "kind": reason_kind(n.skipped), "reason": n.skipped}
        for n in evaluation.skipped
        if n.skipped is not None
    ]
    return pd.DataFrame(rows, columns=["layer", "neuron", "kind", "reason"])


def reason_kind(reason: str | None) -> str:
    """The kind of a skip reason ("no graph: ..." -> "no graph")."""
    return (reason or "").split(":", 1)[0].strip()


def skipped_summary(evaluation: Evaluation) -> list[tuple[str, int]]:
    """(kind, count) of the skipped neurons, most frequent first."""
    return Counter(reason_kind(n.skipped) for n in evaluation.skipped).most_common()


def _mean(frame: pd.DataFrame, column: str, support: str) -> float:
    if column not in frame or support not in frame:
        return math.nan
    chosen = frame.loc[frame[support] > 0, column]
    return float(chosen.mean()) if len(chosen) else math.nan


def _row(layer: Any, scored: pd.DataFrame, skipped: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "layer": layer,
        "neurons": len(scored),
        "with_firing": int((scored["support"] > 0).sum()) if "support" in scored else 0,
        "skipped": skipped,
    }
    for column in (*FIRING, *BASELINES):
        row[column] = _mean(scored, column, "support")
    for column in NONFIRING:
        row[column] = _mean(scored, column, "nonfiring_support")
    for column in RANDOM:
        support = "random_nonfiring_support" if "nonfiring" in column else "random_support"
        row[column] = _mean(scored, column, support)
    return row


def layer_table(evaluation: Evaluation) -> pd.DataFrame:
    """The paper's table: one row per layer (every layer with a selected neuron) and "all"."""
    frame = neuron_frame(evaluation)
    columns = list(TABLE_COLUMNS)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    scored = frame[frame["evaluated"]]
    rows = []
    for layer in sorted(frame["layer"].unique()):
        in_layer = frame["layer"] == layer
        rows.append(_row(int(layer), scored[scored["layer"] == layer], int((in_layer & ~frame["evaluated"]).sum())))
    rows.append(_row("all", scored, int((~frame["evaluated"]).sum())))
    return pd.DataFrame(rows, columns=columns)


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def to_markdown(frame: pd.DataFrame, labels: dict[str, str] | None = None, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned, floats to `digits`, NaN as –)."""
    labels = labels or {}
    columns = list(frame.columns)
    header = "| " + " | ".join(labels.get(c, str(c)) for c in columns) + " |"
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in columns]
    rule = "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"
    body = ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def report_dict(evaluation: Evaluation, table: pd.DataFrame | None = None) -> dict[str, Any]:
    """Everything a script needs: model, kind, settings, the table and the skipped neurons."""
    table = layer_table(evaluation) if table is None else table
    records = [{k: _jsonable(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
    return {
        "model": evaluation.model,
        "kind": evaluation.kind,
        "evaluated_at": evaluation.evaluated_at,
        "settings": evaluation.settings,
        "neurons": {
            "selected": len(evaluation.neurons),
            "evaluated": len(evaluation.scored),
            "skipped": len(evaluation.skipped),
            "written": evaluation.written,
        },
        "layers": [r for r in records if r["layer"] != "all"],
        "overall": next((r for r in records if r["layer"] == "all"), None),
        "skipped": [
            {"layer": n.layer, "neuron": n.index, "kind": reason_kind(n.skipped), "reason": n.skipped} for n in evaluation.skipped
        ],
    }


def markdown_report(evaluation: Evaluation, table: pd.DataFrame | None = None) -> str:
    """table.md: a title, what was scored and how, the table and the skipped neurons by kind."""
    table = layer_table(evaluation) if table is None else table
    s = evaluation.settings
    lines = [
        f"# N2G evaluation: {evaluation.model}",
        "",
        f"Scored on {DATA[evaluation.kind]}, {evaluation.evaluated_at}. A token fires at >= {s.get('threshold')} of the "
        f"neuron's max activation; n-gram baseline context {s.get('ngram_context')}. P/R/F1: firing tokens, means over "
        "neurons with firing tokens; non-firing: the same for non-firing tokens. Random-text columns: the same on "
        "the held-out random text the mining pass set aside (when stored).",
        "",
        to_markdown(table, LABELS),
    ]
    summary = skipped_summary(evaluation)
    if summary:
        lines += ["Skipped: " + ", ".join(f"{count} {kind}" for kind, count in summary) + " (see neurons.csv).", ""]
    return "\n".join(lines)


def plot_f1_by_layer(table: pd.DataFrame, path: Path, title: str = "") -> Path:
    """A PNG of mean firing F1 by layer: N2G against the token-lookup and n-gram baselines."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    layers = table[table["layer"] != "all"]
    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    ax = fig.subplots()
    x = [int(v) for v in layers["layer"]]
    for column, label, style in (
        ("f1", "N2G", "o-"),
        ("baseline_token_f1", "Token lookup", "s--"),
        ("baseline_ngram_f1", "N-gram", "^:"),
    ):
        ax.plot(x, [float(v) for v in layers[column]], style, label=label)
    if not x or layers["f1"].isna().all():
        ax.text(0.5, 0.5, "no neuron could be scored", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(x)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("Layer")
    ax.set_ylabel("Firing-token F1 (mean over neurons)")
    ax.set_title(title or "F1 by layer")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_report(evaluation: Evaluation, out_dir: Path) -> dict[str, Path]:
    """Writes table.md, table.csv, table.json, f1_by_layer.png and neurons.csv to `out_dir`."""
    out_dir = Path(out_dir)
    table = layer_table(evaluation)
    paths = {name: out_dir / name for name in FILES}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths["table.md"].write_text(markdown_report(evaluation, table), encoding="utf-8")
        table.to_csv(paths["table.csv"], index=False)
        paths["table.json"].write_text(
            json.dumps(report_dict(evaluation, table), indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8"
        )
        plot_f1_by_layer(table, paths["f1_by_layer.png"], f"{evaluation.model}: F1 by layer ({DATA[evaluation.kind]})")
        neuron_frame(evaluation).to_csv(paths["neurons.csv"], index=False)
    except OSError as e:
        raise ConfigError(f"cannot write the report to {out_dir}: {e.strerror or e}; pass --out a writable folder") from e
    return paths


__all__ = [
    "FILES",
    "LABELS",
    "TABLE_COLUMNS",
    "layer_table",
    "markdown_report",
    "neuron_frame",
    "plot_f1_by_layer",
    "report_dict",
    "skipped_frame",
    "skipped_summary",
    "to_markdown",
    "write_report",
]
