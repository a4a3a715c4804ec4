"""The self-contained HTML report: one file, figures embedded as base64 PNG, no scripts, no external resources,
so it opens offline and can be mailed. Pure: :func:`render_html` returns a string; the CLI writes it.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.pipeline import PAPER, Analysis
from analysis.robustness_report import render_robustness
from analysis.tables import format_value

LABELS: dict[str, str] = {
    "participants_total": "participants with at least one answered round",
    "participants_valid": "participants kept by the placebo filter",
    "placebo_threshold": "placebo threshold (kept only if above)",
    "accuracy_mean": "mean participant accuracy (non-placebo rounds)",
    "accuracy_std": "sample std of participant accuracy",
    "votes_total": "votes (non-placebo answers of kept participants)",
    "images_voted": "images with at least one vote",
    "votes_per_image_mean": "mean votes per voted image",
    "votes_per_image_std": "sample std of votes per voted image",
    "min_votes": "votes an image needs for the agreement analysis",
    "images_with_min_votes": "images with at least that many votes",
    "human_correct_algo_correct": "both correct",
    "human_correct_algo_incorrect": "only the human majority correct",
    "human_incorrect_algo_correct": "only the algorithm correct",
    "human_incorrect_algo_incorrect": "both wrong",
    "label_agreement": "human majority and algorithm pick the same generator",
    "algorithm_accuracy": "algorithm accuracy over all targets",
}
PERCENT_KEYS = {"accuracy_mean", "accuracy_std", "label_agreement", "algorithm_accuracy"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1040px;margin:2em auto;
padding:0 1em;color:#1c2833;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #d5d8dc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.88em}
th,td{border-bottom:1px solid #e5e8e8;padding:.25em .6em;text-align:right}
th{background:#f4f6f6}td.l,th.l{text-align:left}
figure{margin:1em 0}figcaption{font-size:.9em;color:#424949;max-width:860px}
img{max-width:100%;height:auto}.note{color:#566573;font-size:.9em}
code{background:#f4f6f6;padding:0 .2em}
"""


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key in PERCENT_KEYS and isinstance(value, (int, float)):
        return f"{100 * float(value):.2f}%"
    return format_value(value)


def _pct(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * float(value):.{digits}f}%"


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if _missing(value) else f"{float(value):.{digits}g}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 participant``, ``2 participants`` (``words``: the irregular plural)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def html_table(frame: pd.DataFrame, *, max_rows: int = 60) -> str:
    """A plain HTML table; long tables are cut to ``max_rows`` with a note (the CSV has every row)."""
    shown = frame.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    head = "".join(f'<th class="{"" if n else "l"}">{html.escape(str(c))}</th>' for c, n in zip(frame.columns, numeric))
    body = []
    for row in shown.itertuples(index=False, name=None):
        cells = "".join(f'<td class="{"" if n else "l"}">{html.escape(format_value(v))}</td>'
                        for v, n in zip(row, numeric))
        body.append(f"<tr>{cells}</tr>")
    more = (f'<p class="note">First {max_rows} of {len(frame)} rows; every row is in the CSV.</p>'
            if len(frame) > max_rows else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _compact_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    def span(lo: float, hi: float) -> str:
        return "" if pd.isna(lo) or pd.isna(hi) else f"{lo:.4f} to {hi:.4f}"

    return pd.DataFrame({
        "statistic": frame["statistic"],
        "estimate": frame["estimate"],
        "95% interval": [span(lo, hi) for lo, hi in zip(frame["ci_low"], frame["ci_high"])],
        "method": ["jackknife" if "jackknife" in m else "bootstrap" for m in frame["method"]],
        "bootstrap percentile": [span(lo, hi) for lo, hi in zip(frame["bootstrap_low"], frame["bootstrap_high"])],
    })


def _by_placebo_accuracy(frame: pd.DataFrame) -> pd.DataFrame:
    f = frame.assign(placebo_accuracy=frame["placebo_accuracy"].round(4))
    out = (f.groupby("placebo_accuracy", dropna=False, sort=True)[["participants", "kept"]].sum().reset_index())
    return out


def _allocation_note(s: Mapping[str, Any]) -> str:
    """Which allocation collected the votes, and what it changes (``policy['allocation']``)."""
    allocation = s.get("inputs", {}).get("allocation")
    note = s.get("policy", {}).get("allocation", "")
    settled = s.get("settled_targets")
    extra = (f" {settled} images have a majority of {s['min_votes']} that their kept votes settle."
             if settled is not None else "")
    return (f'<p class="note">Allocation: <strong>{html.escape(str(allocation or "not stated"))}</strong>. '
            f"{html.escape(note)}.{extra}</p>")


def _figure(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


@dataclass(frozen=True)
class _Report:
    """What every section reads: the analysis, its figures and table files, and two interval formatters."""

    result: Analysis
    figures: Mapping[str, bytes]
    table_files: Mapping[str, str]
    trials_given: bool = False

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary

    @property
    def beyond(self) -> dict[str, Any]:
        return self.result.summary["beyond_paper"]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return self.result.tables

    def interval(self, name: str, digits: int = 1, *, percent: bool = True) -> str:
        """The participant-level 95% interval, only where it is defined (>= 2 kept participants, a defined
        estimate); ``percent=False`` for statistics that are not proportions (Cohen's kappa)."""
        r = {r["statistic"]: r for r in self.beyond["participant_intervals"]}.get(name)
        if self.summary["participants_valid"] < 2:
            return "no interval with fewer than 2 kept participants"
        if not r or _missing(r["estimate"]) or _missing(r["ci_low"]) or _missing(r["ci_high"]):
            return "no interval: undefined"
        if not percent:
            return f"95% CI {float(r['ci_low']):.{digits + 1}f} to {float(r['ci_high']):.{digits + 1}f}"
        return f"95% CI {_pct(r['ci_low'], digits)} to {_pct(r['ci_high'], digits)}"

    def wilson(self, name: str) -> str:
        """A proportion of ``proportions_wilson95`` with its count and Wilson interval."""
        r = {r["quantity"]: r for r in self.beyond["proportions_wilson95"]}.get(name)
        if not r or r["estimate"] is None:
            return "n/a"
        return f"{_pct(r['estimate'], 2)} ({r['k']}/{r['n']}; Wilson 95% {_pct(r['ci_low'])} to {_pct(r['ci_high'])})"


def _head(r: _Report) -> list[str]:
    s, e = r.summary, html.escape
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Deepfake attribution user study: analysis</title>',
        f"<style>{CSS}</style></head><body>",
        "<h1>Deepfake attribution user study: analysis report</h1>",
        f'<p class="note">Bundle <code>{e(s["inputs"]["bundle"])}</code> (built by {e(s["inputs"]["bundle_software"])},'
        f' {e(s["inputs"]["bundle_created_at"])}); responses <code>{e(s["inputs"]["responses"])}</code>. '
        f'Placebo threshold {s["placebo_threshold"]:g}, minimum votes {s["min_votes"]}, '
        f'{s["inputs"]["bootstrap_resamples"]} bootstrap resamples, seed {s["inputs"]["seed"]}. '
        f'{s["inputs"]["targets"]} targets, generators {e(", ".join(s["inputs"]["generators"]))}, '
        f'{s["inputs"]["attempts"]} attempts each.</p>',
        _allocation_note(s),
    ]


def _paper_comparison(r: _Report) -> list[str]:
    """1. The paper's numbers beside ours."""
    e = html.escape
    rows = []
    for row in r.tables["paper_comparison"].to_dict(orient="records"):
        key = row["quantity"]
        ci = ("" if row["ci_low"] is None or pd.isna(row["ci_low"]) or _missing(row["ours"]) else
              f"{_fmt(key, row['ci_low'])} to {_fmt(key, row['ci_high'])} ({e(row['interval'])})")
        ours = row["ours"] if row["ours"] is None or not pd.isna(row["ours"]) else None
        rows.append(f'<tr><td class="l">{e(LABELS.get(key, key))}</td><td class="l"><code>{e(key)}</code></td>'
                    f"<td>{e(_fmt(key, row['paper']))}</td><td>{e(_fmt(key, ours))}</td>"
                    f'<td class="l">{ci}</td></tr>')
    return [
        "<h2>1. The paper's numbers beside ours</h2>",
        "<p>The paper (§VI-D) reports these numbers without intervals. Ours are computed from the files above with "
        "the same rules; intervals are 95% (participant bootstrap or jackknife where participants cluster the data, "
        "Wilson for a proportion of independent targets).</p>",
        '<table><thead><tr><th class="l">quantity</th><th class="l">key</th><th>paper</th><th>ours</th>'
        f'<th class="l">our 95% interval</th></tr></thead><tbody>{"".join(rows)}</tbody></table>',
    ]


def _participants(r: _Report) -> list[str]:
    """2. Participants and the placebo filter."""
    s = r.summary
    n_ex = s["participants_total"] - s["participants_valid"]
    return [
        "<h2>2. Participants and the placebo filter</h2>",
        f"<p>{plural(s['participants_total'], 'participant')} answered at least one round; "
        f"{s['participants_valid']} passed "
        f"the placebo check (placebo accuracy above {s['placebo_threshold']:g}) and {n_ex} "
        f"{'was' if n_ex == 1 else 'were'} excluded. Kept "
        f"participants attributed {_pct(s['accuracy_mean'], 2)} of non-placebo rounds correctly on average "
        f"(sample sd {_pct(s['accuracy_std'], 2)}; {r.interval('accuracy_mean', 2)}).</p>",
        _figure(r.figures["participant_accuracy"], "participant accuracy histograms",
                "Left: each participant's share of placebo rounds answered correctly; the dashed line is the "
                "exclusion threshold (participants at or left of it are excluded). Right: accuracy on the real "
                "rounds, blue for kept participants, grey for excluded ones."),
        "<p>Placebo accuracy (how many participants reached each; by number of placebo rounds in "
        "<code>tables/placebo_distribution.csv</code>):</p>",
        html_table(_by_placebo_accuracy(r.tables["placebo_distribution"])),
    ]


def _votes_per_image(r: _Report) -> list[str]:
    """3. Votes per image."""
    s, practice = r.summary, r.result.practice_targets
    return [
        "<h2>3. Votes per image</h2>",
        f"<p>Kept participants cast {plural(s['votes_total'], 'vote')} on {plural(s['images_voted'], 'image')}: "
        f"{_num(s['votes_per_image_mean'])} votes per voted image on average (sd {_num(s['votes_per_image_std'])})."
        f" {plural(s['images_with_min_votes'], 'image')} received at least {plural(s['min_votes'], 'vote')} and "
        f"enter the agreement analysis; on {s['majority_ties']} of them the majority vote was a tie, broken towards "
        "the lowest generator id."
        + (f" The {plural(len(practice), 'practice target')} (never in a real round, so never "
           "voted on) are left out of these counts and the figure." if practice else "")
        + ("" if r.trials_given else
           " No trial export was given (<code>--trials</code>, the study's <code>custom_export_trials</code>): "
           "targets shown only in practice rounds, which can never get a vote, are counted here and in the figure "
           "as images with 0 votes.")
        + "</p>",
        _figure(r.figures["votes_per_image"], "votes per image",
                "How many images received 0, 1, 2, ... votes. Blue bars are the images that enter the human versus "
                "algorithm comparison."),
    ]


def _humans_vs_algorithm(r: _Report) -> list[str]:
    """4. Humans against the algorithm."""
    s, b = r.summary, r.beyond
    mc = b["mcnemar_exact"]
    return [
        "<h2>4. Humans against the algorithm</h2>",
        f"<p>On the {plural(s['images_with_min_votes'], 'image')} with at least {plural(s['min_votes'], 'vote')}, "
        "the human majority "
        f"vote and the algorithm picked the same generator on {_pct(s['label_agreement'], 2)} of images "
        f"({r.interval('label_agreement')}). Cohen's kappa between the two is {_num(b['cohen_kappa'])} "
        f"({r.interval('cohen_kappa', percent=False)}; kappa corrects for agreement by chance). On average "
        f"{_pct(b['soft_agreement'])} of an image's voters chose the algorithm's generator (soft agreement, as "
        f"LPIPS' 2AFC score; {r.interval('soft_agreement')}).</p>",
        _figure(r.figures["agreement_matrix"], "agreement matrix",
                f"Rows: is the human majority vote correct? Columns: is the algorithm correct? Paper (Fig. 10): "
                f"{PAPER['human_correct_algo_correct']} both correct, {PAPER['human_correct_algo_incorrect']} only "
                f"human, {PAPER['human_incorrect_algo_correct']} only algorithm, "
                f"{PAPER['human_incorrect_algo_incorrect']} both wrong."),
        f"<p>Exact McNemar test on the same images (does the algorithm beat the human majority?): "
        f"{plural(mc['human_only_correct'], 'image')} only the humans got right, {mc['algo_only_correct']} only the "
        f"algorithm; p = {_num(mc['p_value'])}. The human majority is correct on "
        f"{r.wilson('human majority vote correct (>= min_votes)')}; the algorithm on the same images "
        f"{r.wilson('algorithm correct (>= min_votes images)')}.</p>",
        html_table(_compact_intervals(r.tables["participant_intervals"])),
        '<p class="note">Majority-vote statistics use a delete-one-participant jackknife: a participant bootstrap '
        "duplicates voters, so images with one or two distinct voters enter the minimum-votes set and its interval "
        "is biased downwards (shown in the last column for comparison). The jackknife is conservative (in simulated "
        "studies it was wider than needed, see <code>bench/analysis_report.py --coverage</code>); the Wilson "
        "interval over images (section 1 table of proportions, <code>tables/proportions.csv</code>) is too narrow "
        "because images share voters. The truth lies between the two.</p>",
    ]


def _algorithm(r: _Report) -> list[str]:
    """5. The algorithm."""
    return [
        "<h2>5. The algorithm (paper §VI-A)</h2>",
        f"<p>Attributing each target to the generator with the smallest reconstruction distance gives "
        f"{r.wilson('algorithm correct (all targets)')} correct over all targets "
        f"(paper: {_pct(PAPER['algorithm_accuracy'], 2)}).</p>",
        _figure(r.figures["algorithm_confusion"], "algorithm confusion matrix",
                "The algorithm's confusion matrix (paper Fig. 4): row = generator that made the target, column = "
                "generator the algorithm attributed it to; shares of the row with counts."),
        _figure(r.figures["accuracy_vs_attempts"], "error vs attempts",
                "Attribution error when only the first k reconstruction attempts are used (paper Fig. 5), with a "
                "Wilson 95% band."),
        html_table(r.tables["algorithm_accuracy"]),
    ]


def _generator_difficulty(r: _Report) -> list[str]:
    """6. Is one generator harder for humans?"""
    gd = r.beyond["generator_difficulty"]["test"]
    return [
        "<h2>6. Is one generator harder for humans?</h2>",
        _figure(r.figures["human_confusion"], "human confusion matrix",
                "What kept participants chose (column) for targets of each generator (row), over all votes."),
        html_table(r.tables["generator_difficulty"]),
        f"<p>{html.escape(gd['method'])}: "
        + (f"chi2({gd['df']}) = {_num(gd['statistic'])}, p = {_num(gd['p_value'])}."
           if gd["p_value"] is not None else html.escape(gd["note"]))
        + " The GEE columns are population-averaged accuracies with intervals that allow for each participant's "
          "answers being correlated; the raw columns treat votes as independent (Wilson).</p>",
    ]


def _dawid_skene(r: _Report) -> list[str]:
    """7. Dawid-Skene beside majority vote."""
    return [
        "<h2>7. Dawid–Skene beside majority vote</h2>",
        "<p>Dawid–Skene (crowd-kit) weighs each participant by an estimated confusion matrix instead of counting "
        "votes equally.</p>",
        html_table(r.tables["dawid_skene"]),
    ]


def _response_times(r: _Report) -> list[str]:
    """8. Response times."""
    rt = r.beyond["response_times"]["tests"]
    return [
        "<h2>8. Response times</h2>",
        _figure(r.figures["response_time"], "response times",
                "Time from the images appearing to the click, for correct and incorrect votes (boxes: quartiles, "
                "line: median, whiskers: 1.5 IQR, outliers not drawn)."),
        html_table(r.tables["response_times"]),
        f"<p>Mann–Whitney U over votes: p = {_num(rt['mann_whitney_p'])} (treats votes as independent). Within "
        f"participants ({plural(rt['participants_paired'], 'participant')} with both kinds of answer), the median of "
        "(median time correct "
        f"- median time incorrect) is {_num(rt['median_paired_difference_ms'], 4)} ms, Wilcoxon signed-rank "
        f"p = {_num(rt['wilcoxon_p'])}.</p>",
    ]


def _coverage(r: _Report) -> list[str]:
    """9. How many more participants for k votes on every target?"""
    cov = r.beyond["coverage"]
    return [
        f"<h2>9. How many more participants for {cov['k']} votes on every target?</h2>",
        f"<p>{cov['targets_below_k']} of {plural(cov['targets'], 'target')} have fewer than "
        f"{plural(cov['k'], 'vote')}. With "
        f"{_num(cov['votes_per_participant'])} votes per kept participant and a keep rate of "
        f"{_pct(cov['keep_rate'])}: <em>balanced</em> = serve the least-voted target next; <em>random_p50 / p95</em>"
        " = uniformly random targets as in the paper, chance that every target reaches k (Poisson approximation); "
        "<em>random_expected_short_below_1</em> = fewer than one target expected to fall short.</p>",
        html_table(r.tables["coverage"]),
    ]


def _robustness(r: _Report) -> list[str]:
    """Robustness by condition (:mod:`analysis.robustness_report`; an empty line for a single condition)."""
    return [render_robustness(r.result, r.figures)]


def _policies(r: _Report) -> list[str]:
    """10. Definitions and edge-case policies."""
    e = html.escape
    return [
        "<h2>10. Definitions and edge-case policies</h2>",
        "<table><tbody>" + "".join(f'<tr><td class="l"><code>{e(k)}</code></td><td class="l">{e(v)}</td></tr>'
                                  for k, v in r.summary["policy"].items()) + "</tbody></table>",
    ]


def _files(r: _Report) -> list[str]:
    """11. Files."""
    return [
        "<h2>11. Files</h2>",
        "<p><code>summary.json</code> (the contract's keys, plus <code>beyond_paper</code>, <code>policy</code>, "
        "<code>inputs</code>); every table as CSV and LaTeX (booktabs) in <code>tables/</code>: "
        + ", ".join(f"<code>{html.escape(v)}</code>" for v in r.table_files.values()) + ".</p>",
    ]


SECTIONS: tuple[Callable[[_Report], list[str]], ...] = (
    _head, _paper_comparison, _participants, _votes_per_image, _humans_vs_algorithm, _algorithm,
    _generator_difficulty, _dawid_skene, _response_times, _coverage, _robustness, _policies, _files,
)


def render_html(result: Analysis, figures: Mapping[str, bytes], *, table_files: Mapping[str, str],
                trials_given: bool = False) -> str:
    """The report, section by section (:data:`SECTIONS`). ``figures``: name -> PNG bytes (see
    :mod:`analysis.figures`); ``table_files``: table -> file stem; ``trials_given``: whether the study's trial
    export was read (without it the practice targets cannot be told apart, and the report says so)."""
    report = _Report(result, figures, table_files, trials_given)
    parts = [part for section in SECTIONS for part in section(report)]
    return "\n".join([*parts, "</body></html>"]) + "\n"
