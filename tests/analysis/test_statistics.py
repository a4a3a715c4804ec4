"""Statistics pinned to direct calls of the reference implementations (statsmodels, scipy, scikit-learn) and to
plain loops: Wilson, exact McNemar, Cohen's kappa, the participant bootstrap and jackknife, the GEE, the tests on
response times, the attribution rule and the coverage projection."""

from __future__ import annotations

import math
import statistics as pystats
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from analysis import analyze, load
from analysis.agreement import cohen_kappa, mcnemar_exact
from analysis.algorithm import attribution
from analysis.bootstrap import bootstrap_draws, jackknife_values, participant_intervals, vote_arrays
from analysis.coverage import coverage_projection
from analysis.models import generator_difficulty
from analysis.participants import participant_table
from analysis.simulate import simulate_study, write_study
from analysis.statistics import proportion, wilson_interval
from analysis.timing import response_times
from analysis.votes import valid_votes
from contracts.bundle import attribute


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (592, 631), (5710, 6000), (1, 2)])
def test_wilson_matches_statsmodels(k: int, n: int) -> None:
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((lo, hi), abs=1e-12)


def test_wilson_empty_and_invalid() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(3, 2)


@pytest.mark.parametrize("cells", [(592, 0, 37, 2), (10, 3, 4, 1), (5, 0, 0, 5), (0, 7, 1, 0)])
def test_mcnemar_matches_statsmodels(cells: tuple[int, int, int, int]) -> None:
    a, b, c, d = cells
    matrix = {"human_correct_algo_correct": a, "human_correct_algo_incorrect": b,
              "human_incorrect_algo_correct": c, "human_incorrect_algo_incorrect": d}
    ref = mcnemar([[a, b], [c, d]], exact=True)
    got = mcnemar_exact(matrix)
    assert got["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert got["statistic"] == ref.statistic
    # Exact McNemar = two-sided binomial test on the discordant pairs.
    if b + c:
        assert got["p_value"] == pytest.approx(min(1.0, stats.binomtest(b, b + c, 0.5).pvalue), rel=1e-9)
    assert mcnemar_exact(dict.fromkeys(matrix, 0))["p_value"] is None


def test_kappa_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    gens = np.array(["a", "b", "c"])
    for _ in range(50):
        n = int(rng.integers(2, 40))
        x = gens[rng.integers(0, 3, n)]
        y = np.where(rng.random(n) < 0.7, x, gens[rng.integers(0, 3, n)])
        ref = cohen_kappa_score(x, y)
        got = cohen_kappa(list(x), list(y))
        if math.isnan(ref):
            assert got is None
        else:
            assert got == pytest.approx(ref, abs=1e-12)
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None          # expected agreement 1: undefined
    assert cohen_kappa([], []) is None


def test_attribution_matches_the_contract_rule_with_ties() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for t in range(300):
        for g in ("zeta", "alpha", "mid"):
            for a in range(3):
                rows.append((f"t{t}", g, a, float(rng.integers(0, 4))))   # many exact ties
    frame = pd.DataFrame(rows, columns=["target_id", "generator", "attempt", "distance"])
    got = attribution(frame).to_dict()
    assert got == attribute((t, g, d) for t, g, _, d in rows)
    first = attribution(frame, max_attempts=1).to_dict()
    assert first == attribute((t, g, d) for t, g, a, d in rows if a == 0)


@pytest.fixture(scope="module")
def sim_study(tmp_path_factory: pytest.TempPathFactory):
    sim = simulate_study(n_targets=40, n_participants=25, rounds=30, careless=0.1, dropout=0.2, seed=11)
    return load(*write_study(tmp_path_factory.mktemp("stats"), sim))


def _parts(study, threshold: float = 0.8):
    p = participant_table(study.responses, placebo_threshold=threshold)
    return p, valid_votes(study.responses, p)


def test_bootstrap_is_seeded_and_matches_a_plain_loop(sim_study) -> None:
    p, v = _parts(sim_study)
    kwargs = dict(min_votes=3, n_resamples=300, seed=5, batch=300)
    a = participant_intervals(p, v, sim_study.targets, sim_study.generators, **kwargs)
    b = participant_intervals(p, v, sim_study.targets, sim_study.generators, **kwargs)
    pd.testing.assert_frame_equal(a, b)
    c = participant_intervals(p, v, sim_study.targets, sim_study.generators, **{**kwargs, "seed": 6})
    assert not a["bootstrap_low"].equals(c["bootstrap_low"])
    # Batching does not change the draws' statistics when the rng stream is the same (one batch vs one batch).
    kept = p[p["valid"]].reset_index(drop=True)
    rng = np.random.default_rng(5)
    idx = rng.integers(0, len(kept), size=(300, len(kept)))
    means, pooled = [], []
    for draw in idx:
        accs = [kept.loc[i, "accuracy"] for i in draw if not math.isnan(kept.loc[i, "accuracy"])]
        means.append(sum(accs) / len(accs))
        pooled.append(sum(kept.loc[i, "correct"] for i in draw) / sum(kept.loc[i, "answers"] for i in draw))
    row = a.set_index("statistic")
    assert row.loc["accuracy_mean", "ci_low"] == pytest.approx(np.quantile(means, 0.025), abs=1e-12)
    assert row.loc["accuracy_mean", "ci_high"] == pytest.approx(np.quantile(means, 0.975), abs=1e-12)
    assert row.loc["vote_accuracy", "ci_low"] == pytest.approx(np.quantile(pooled, 0.025), abs=1e-12)


def test_interval_estimates_equal_the_headline_numbers(sim_study) -> None:
    result = analyze(sim_study, n_bootstrap=50, seed=1)
    s, b = result.summary, result.summary["beyond_paper"]
    rows = {r["statistic"]: r for r in b["participant_intervals"]}
    assert rows["accuracy_mean"]["estimate"] == pytest.approx(s["accuracy_mean"])
    assert rows["label_agreement"]["estimate"] == pytest.approx(s["label_agreement"])
    assert rows["cohen_kappa"]["estimate"] == pytest.approx(b["cohen_kappa"])
    assert rows["soft_agreement"]["estimate"] == pytest.approx(b["soft_agreement"])
    table = result.tables["per_image"]
    enough = table[table["n_votes"] >= 3]
    assert rows["human_majority_accuracy"]["estimate"] == pytest.approx(enough["human_correct"].mean())
    for r in rows.values():
        assert r["ci_low"] <= r["estimate"] + 1e-12 and r["estimate"] <= r["ci_high"] + 1e-12, r["statistic"]


def test_jackknife_matches_leaving_each_participant_out(sim_study) -> None:
    """Delete-one jackknife of label agreement against re-running the whole analysis without each participant."""
    p, v = _parts(sim_study)
    got = participant_intervals(p, v, sim_study.targets, sim_study.generators, min_votes=3, n_resamples=0,
                                seed=0).set_index("statistic")
    kept = list(p.loc[p["valid"], "participant_code"])
    leave_out = []
    for code in kept:
        responses = sim_study.responses[sim_study.responses["participant_code"] != code]
        partial = type(sim_study)(**{**sim_study.__dict__, "responses": responses})
        value = analyze(partial, n_bootstrap=0).summary["label_agreement"]
        leave_out.append(value)
    n = len(leave_out)
    mean = sum(leave_out) / n
    se = math.sqrt((n - 1) / n * sum((x - mean) ** 2 for x in leave_out))
    assert got.loc["label_agreement", "jackknife_se"] == pytest.approx(se, rel=1e-9)
    est = got.loc["label_agreement", "estimate"]
    assert got.loc["label_agreement", "ci_high"] == pytest.approx(min(1.0, est + 1.959963984540054 * se))


def test_gee_matches_a_direct_statsmodels_call(sim_study) -> None:
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    _, v = _parts(sim_study)
    table, test = generator_difficulty(v, sim_study.generators)
    data = pd.DataFrame({"y": v["correct"].astype(float), "gen": v["true_generator"],
                         "who": v["participant_code"]})
    ref = smf.gee("y ~ 0 + C(gen)", groups="who", data=data, family=sm.families.Binomial(),
                  cov_struct=sm.cov_struct.Exchangeable()).fit()
    expit = 1 / (1 + np.exp(-ref.params.to_numpy()))
    assert table["gee_accuracy"].to_numpy() == pytest.approx(expit, rel=1e-6)
    wald = ref.wald_test(np.array([[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]), scalar=True)
    assert test["p_value"] == pytest.approx(float(wald.pvalue), rel=1e-6)
    assert test["df"] == 2
    raw = v.groupby("true_generator")["correct"].mean()
    assert table["accuracy"].to_numpy() == pytest.approx(raw.to_numpy())


def test_gee_finds_a_harder_generator(tmp_path: Path) -> None:
    """Humans answer 'stylegan' targets near chance in this simulation: the Wald test must say so."""
    sim = simulate_study(n_targets=60, n_participants=30, rounds=60, careless=0.0, dropout=0.0, seed=2,
                         algorithm_error=0.0)
    study = load(*write_study(tmp_path, sim))
    r = study.responses.copy()
    hard = (r["true_generator"] == "stylegan") & ~r["is_placebo"]
    flip = hard & (np.random.default_rng(0).random(len(r)) < 0.5)
    r.loc[flip, "chosen_generator"] = "progan"
    r["correct"] = np.where(r["is_placebo"], r["correct"], r["chosen_generator"] == r["true_generator"])
    _, v = _parts(type(study)(**{**study.__dict__, "responses": r}))
    table, test = generator_difficulty(v, study.generators)
    assert test["p_value"] < 1e-6
    acc = table.set_index("true_generator")["gee_accuracy"]
    assert acc["stylegan"] < acc["progan"] - 0.2


def test_gee_degenerate_cases_are_reported_not_raised(sim_study) -> None:
    _, v = _parts(sim_study)
    one = v[v["participant_code"] == v["participant_code"].iloc[0]]
    table, test = generator_difficulty(one, sim_study.generators)
    assert test["p_value"] is None and "participants" in test["note"]
    perfect = v.assign(correct=True)
    table, test = generator_difficulty(perfect, sim_study.generators)
    assert test["p_value"] is None and "infinite" in test["note"]
    assert table["accuracy"].tolist() == [1.0, 1.0, 1.0]


def test_response_time_tests_match_scipy(sim_study) -> None:
    _, v = _parts(sim_study)
    table, tests = response_times(v)
    right = v.loc[v["correct"], "response_ms"].to_numpy()
    wrong = v.loc[~v["correct"], "response_ms"].to_numpy()
    assert tests["mann_whitney_p"] == pytest.approx(stats.mannwhitneyu(right, wrong).pvalue)
    assert table.set_index("outcome").loc["correct", "median_ms"] == pytest.approx(pystats.median(right))
    diffs = []
    for code, part in v.groupby("participant_code"):
        a, b = part.loc[part["correct"], "response_ms"], part.loc[~part["correct"], "response_ms"]
        if len(a) and len(b):
            diffs.append(pystats.median(a) - pystats.median(b))
    assert tests["participants_paired"] == len(diffs)
    assert tests["wilcoxon_p"] == pytest.approx(stats.wilcoxon(diffs).pvalue)


def test_coverage_projection() -> None:
    counts = np.array([0, 1, 2, 3, 5, 0])
    out = coverage_projection(counts, k=3, votes_per_participant=2.5, keep_rate=0.5)
    designs = {d["design"]: d for d in out["designs"]}
    assert designs["balanced"]["extra_votes"] == 3 + 2 + 1 + 3
    assert designs["balanced"]["extra_participants"] == 4      # ceil(9 / 2.5)
    assert designs["balanced"]["extra_recruits"] == 8          # ceil(4 / 0.5)
    v50 = designs["random_p50"]["extra_votes"]
    assert designs["random_p95"]["extra_votes"] > v50 >= 9

    def p_all(v: int) -> float:                                  # plain product of Poisson tails
        prob = 1.0
        for c in counts:
            if c < 3:
                prob *= 1 - stats.poisson.cdf(3 - c - 1, v / len(counts))
        return prob

    assert p_all(v50) >= 0.5 > p_all(v50 - 1)
    done = coverage_projection(np.array([3, 4]), k=3, votes_per_participant=None, keep_rate=None)
    assert all(d["extra_votes"] == 0 for d in done["designs"])


def test_vectorised_wilson_matches_statsmodels() -> None:
    from analysis.statistics import wilson_arrays

    k = np.array([0, 1, 3, 10, 592, 0])
    n = np.array([1, 1, 10, 10, 631, 0])
    lo, hi = wilson_arrays(k, n)
    for i in range(5):
        ref = proportion_confint(int(k[i]), int(n[i]), method="wilson")
        assert (lo[i], hi[i]) == pytest.approx(ref, abs=1e-12)
    assert math.isnan(lo[5]) and math.isnan(hi[5])


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_proportion_reports_the_wilson_interval_at_its_alpha(alpha: float) -> None:
    row = proportion("accuracy", 37, 50, alpha=alpha)
    lo, hi = proportion_confint(37, 50, alpha=alpha, method="wilson")
    assert row["quantity"] == "accuracy" and (row["k"], row["n"]) == (37, 50) and row["estimate"] == 37 / 50
    assert row["ci_low"] == pytest.approx(lo, abs=1e-12) and row["ci_high"] == pytest.approx(hi, abs=1e-12)
    empty = proportion("accuracy", 0, 0, alpha=alpha)
    assert math.isnan(empty["estimate"]) and math.isnan(empty["ci_low"]) and math.isnan(empty["ci_high"])


def test_intervals_do_not_depend_on_the_batch_size(sim_study) -> None:
    """Resamples and leave-one-outs computed a few at a time (uneven last batch) equal one batch: same draws, same
    count, same jackknife."""
    p, v = _parts(sim_study)
    kwargs = dict(min_votes=3, n_resamples=50, seed=3)
    whole = participant_intervals(p, v, sim_study.targets, sim_study.generators, batch=1000, **kwargs)
    pieces = participant_intervals(p, v, sim_study.targets, sim_study.generators, batch=7, **kwargs)
    assert (pieces["resamples"] == 50).all()
    pd.testing.assert_frame_equal(whole, pieces, check_exact=False, rtol=1e-12, atol=1e-12)


def test_vote_agreement_is_the_share_of_votes_for_the_algorithms_generator(sim_study) -> None:
    p, v = _parts(sim_study)
    got = participant_intervals(p, v, sim_study.targets, sim_study.generators, min_votes=3, n_resamples=0,
                                seed=0).set_index("statistic")
    algo = sim_study.targets.set_index("target_id")["algo_generator"]
    share = float((v["chosen_generator"].to_numpy() == v["target_id"].map(algo).to_numpy()).mean())
    assert 0.2 < share < 0.95  # the premise: not all and not none
    assert got.loc["vote_agreement", "estimate"] == pytest.approx(share, rel=1e-12)


def test_dynamic_intervals_use_the_settled_targets(sim_study) -> None:
    """With ``allocation='dynamic'`` a target whose two votes agree counts (its majority of 3 is settled); the label
    agreement is then the share of settled targets whose majority is the algorithm's generator, computed here by
    hand on a vote table where half the 3-vote targets lost their third vote."""
    p, v = _parts(sim_study)
    v = v.sort_values(["target_id", "participant_code"]).reset_index(drop=True)
    nth = v.groupby("target_id").cumcount()
    ids = sorted(set(v["target_id"]))
    thin = {t for i, t in enumerate(ids) if i % 2 == 0}
    v = v[~(v["target_id"].isin(thin) & (nth >= 2))]
    # the algorithm disagrees with the first vote of every thinned target (so only dynamic counts those)
    first = v.groupby("target_id")["chosen_generator"].first()
    targets = sim_study.targets.copy()
    gens = sorted(sim_study.generators)
    targets["algo_generator"] = [next(g for g in gens if g != first[t]) if t in thin and t in first.index else a
                                 for t, a in zip(targets["target_id"], targets["algo_generator"])]
    rows = {a: participant_intervals(p, v, targets, sim_study.generators, min_votes=3, n_resamples=0,
                                     seed=0, allocation=a).set_index("statistic") for a in ("balanced", "dynamic")}
    algo = targets.set_index("target_id")["algo_generator"]
    settled, agree = 0, 0
    for t, group in v.groupby("target_id"):
        counts = group["chosen_generator"].value_counts()
        top = sorted(counts.index, key=lambda g: (-counts[g], g))[0]
        n, lead = len(group), counts[top]
        runner = counts.drop(top).max() if len(counts) > 1 else 0
        if n >= 3 or runner + (3 - n) < lead:
            settled += 1
            agree += top == algo[t]
    assert settled > sum(len(g) >= 3 for _, g in v.groupby("target_id"))  # the premise: 2-vote targets settle
    assert rows["dynamic"].loc["label_agreement", "estimate"] == pytest.approx(agree / settled, rel=1e-12)
    assert rows["dynamic"].loc["label_agreement", "estimate"] != rows["balanced"].loc["label_agreement", "estimate"]


def test_resampling_edges(sim_study) -> None:
    p, v = _parts(sim_study)
    arrays = vote_arrays(p, v, sim_study.targets, sim_study.generators, min_votes=3, dynamic=False)
    assert arrays.dynamic is False
    assert all(len(x) == 0 for x in bootstrap_draws(arrays, n_resamples=0, seed=0, batch=5).values())
    assert all(len(x) == arrays.n_participants for x in jackknife_values(arrays, batch=4).values())
    codes = list(p.loc[p["valid"], "participant_code"])
    for keep, expected in ((codes[:1], 0), (codes[:2], 2)):
        pk = p[p["participant_code"].isin(keep)]
        vk = v[v["participant_code"].isin(keep)]
        small = vote_arrays(pk, vk, sim_study.targets, sim_study.generators, min_votes=3, dynamic=True)
        assert small.dynamic is True
        assert all(len(x) == expected for x in jackknife_values(small, batch=1).values()), keep
        none = vote_arrays(pk.iloc[:0], vk.iloc[:0], sim_study.targets, sim_study.generators, min_votes=3,
                           dynamic=False)
        assert all(len(x) == 0 for x in bootstrap_draws(none, n_resamples=10, seed=0, batch=5).values())


def test_generator_difficulty_table_and_test_against_statsmodels(sim_study) -> None:
    """Every column and key the report reads: Wilson counts per generator, the GEE's accuracy and its 95 % interval
    (statsmodels' own conf_int, mapped through the logistic), the Wald test; and each 'not fitted' note."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    _, v = _parts(sim_study)
    table, test = generator_difficulty(v, sim_study.generators)
    assert list(table.columns) == ["true_generator", "correct", "n", "accuracy", "ci_low", "ci_high",
                                   "gee_accuracy", "gee_ci_low", "gee_ci_high"]
    assert set(test) == {"method", "statistic", "df", "p_value", "note"} and test["note"] == ""
    assert test["method"] == ("binomial GEE, exchangeable within participant, robust SE; Wald test of equal "
                              "accuracy across generators")
    data = pd.DataFrame({"y": v["correct"].astype(float), "gen": v["true_generator"], "who": v["participant_code"]})
    ref = smf.gee("y ~ 0 + C(gen)", groups="who", data=data, family=sm.families.Binomial(),
                  cov_struct=sm.cov_struct.Exchangeable()).fit()
    ci = 1 / (1 + np.exp(-ref.conf_int().to_numpy()))
    assert table["gee_ci_low"].to_numpy() == pytest.approx(ci[:, 0], rel=1e-6)
    assert table["gee_ci_high"].to_numpy() == pytest.approx(ci[:, 1], rel=1e-6)
    for _, row in table.iterrows():
        part = v[v["true_generator"] == row["true_generator"]]
        lo, hi = proportion_confint(int(part["correct"].sum()), len(part), method="wilson")
        assert (row["correct"], row["n"]) == (int(part["correct"].sum()), len(part))
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    one = v[v["participant_code"] == v["participant_code"].iloc[0]]
    _, t1 = generator_difficulty(one, sim_study.generators)
    n_gen = one["true_generator"].nunique()
    assert t1["note"] == (f"not fitted: needs votes on >= 2 generators from >= 2 participants (have {n_gen} "
                          f"generator{'' if n_gen == 1 else 's'}, 1 participant)")
    assert t1["statistic"] is None and t1["p_value"] is None
    g0 = sorted(sim_study.generators)[0]
    flat = v.assign(correct=np.where(v["true_generator"] == g0, True, v["correct"]))
    _, t2 = generator_difficulty(flat, sim_study.generators)
    assert t2["note"] == f"not fitted: every vote on {g0!r} has the same correctness (logit is infinite)"
