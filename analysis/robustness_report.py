"""The report's section "Robustness: people vs algorithm" (conditions; see :mod:`analysis.conditions`). Pure: returns
an HTML string; empty when the bundle has a single condition (a version-1 bundle: nothing to compare)."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

import pandas as pd

from analysis.pipeline import Analysis

FIGURE = "accuracy_by_condition"


def has_conditions(result: Analysis) -> bool:
    return len(result.summary.get("by_condition", {})) > 1


def _pct(value: object) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"  # type: ignore[arg-type]


def _p(value: object) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.3g}"  # type: ignore[arg-type]


def render_robustness(result: Analysis, figures: Mapping[str, bytes]) -> str:
    if not has_conditions(result):
        return ""
    e = html.escape
    rob = result.tables["robustness"]
    rows = []
    for r in rob.to_dict(orient="records"):
        test = ("(reference)" if r["condition"] == "clean" else
                f"{r['pairs']} pairs, mean D {_p(r['mean_difference'])}, p = {_p(r['p_value'])} "
                f"(one-sided {_p(r['p_value_greater'])})" if r["pairs"] else "no source voted under both")
        rows.append(
            f'<tr><td class="l"><code>{e(str(r["condition"]))}</code></td><td>{r["targets"]}</td>'
            f'<td>{_pct(r["algorithm_accuracy"])} ({_pct(r["algorithm_ci_low"])} to {_pct(r["algorithm_ci_high"])})'
            f'</td><td>{r["participants"]}</td><td>{_pct(r["human_accuracy"])} ({_pct(r["human_ci_low"])} to '
            f'{_pct(r["human_ci_high"])})</td><td>{r["votes"]}</td><td>{_pct(r["label_agreement"])} '
            f'({r["images_with_min_votes"]} images)</td><td>{_pct(r["vote_agreement"])}</td>'
            f'<td class="l">{e(test)}</td></tr>')
    table = ('<table><thead><tr><th class="l">condition</th><th>targets</th><th>algorithm accuracy (Wilson 95%)'
             '</th><th>participants</th><th>human accuracy (participant bootstrap 95%)</th><th>votes</th>'
             '<th>label agreement</th><th>votes for the algorithm\'s pick</th><th class="l">paired test vs clean'
             f'</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    fig = ""
    if FIGURE in figures:
        data = base64.b64encode(figures[FIGURE]).decode("ascii")
        fig = (f'<figure><img alt="accuracy per condition, people and algorithm" src="data:image/png;base64,{data}">'
               "<figcaption>Accuracy per condition: people (mean participant accuracy on that condition's targets, "
               "participant-bootstrap 95% interval) beside the algorithm (share of the condition's targets "
               "attributed correctly, Wilson 95% interval).</figcaption></figure>")
    return "\n".join([
        "<h2>Robustness: people vs algorithm</h2>",
        "<p>Every target was shown under one condition (what was done to the clean image before anyone judged it: "
        "the paper's Table I perturbations); the algorithm reconstructed the same image the participants saw. No "
        "participant saw two conditions of one source image, and each saw the conditions equally often. Human "
        "accuracy is over kept participants with at least one vote on the condition; label agreement is over "
        f"images with at least {result.summary['min_votes']} votes (<code>tables/robustness.csv</code>, "
        "<code>summary.json</code> <code>by_condition</code>).</p>",
        fig, table,
        "<p><b>Does a condition hurt people more than the algorithm?</b> For every source image voted on both clean "
        "and under the condition, D = (drop in the share of correct votes) - (drop in the algorithm's correctness, "
        "0 or 1). D &gt; 0: the condition costs people more. Wilcoxon signed-rank test of D (scipy; zero "
        "differences dropped), two-sided p and one-sided p for D &gt; 0. Assumptions: source images are "
        "independent pairs and D is symmetric about its median under the null. A participant votes on many "
        "sources, which the test does not model (the design balances each participant over conditions, so skill "
        "cancels in expectation); read the p-values as approximate, and the per-condition intervals above as the "
        "clustered evidence.</p>",
    ])
