"""Why a target is what it is: SHAP attributions over the fleet, and counterfactuals.

The recommendation itself is a bootstrap over each service's own history, capped by its
dependencies — not a formula of a few numbers. To say which *properties* of a service drive its
target, the daily run fits one model of the whole fleet's balanced targets from features a
person can check (history, dependency bound, externals, call depth, seasonality, throttling)
and explains it with `shap.TreeExplainer` against a background sample of the fleet. Each
service's attributions add up exactly to the model's prediction minus the fleet's base value
(SHAP's additivity), and the model's fit (R²) is reported beside them, so nobody mistakes the
model for the recommendation.

Counterfactuals do not use that model: they re-run the recommender's own tiers (the bootstrap
with the fleet prior for history, the bound's cap `shape_tiers` for dependencies) and latency
formula on perturbed inputs, so a "what if" answer is the
answer the recommender would give.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.composite_availability import CompositeResult, Factor
from analytics.slo_tiers import TierSet, floor_to, shape_tiers

AVAILABILITY_FEATURES = (
    "historical_availability_nines",
    "error_burstiness",
    "dependency_bound_nines",
    "external_dependency_reliability_nines",
    "call_chain_depth",
    "traffic_seasonality",
    "data_completeness",
)
LATENCY_FEATURES = (
    "p99_latency_historical_log10_ms",
    "call_chain_depth",
    "noisy_neighbor_margin",
    "traffic_seasonality",
    "data_completeness",
)
#: Fewer explained services than this and a fleet model says nothing: no attribution.
MIN_FLEET = 20
BACKGROUND = 100  # fleet rows the attributions are measured against
MAX_NINES = 6.0  # 99.9999%: beyond this, "more nines" is measurement noise


def nines(availability: float) -> float:
    return min(MAX_NINES, -math.log10(max(1.0 - availability, 10**-MAX_NINES)))


def service_features(
    tiers: TierSet,
    composite: CompositeResult | None,
    requests: npt.NDArray[np.float64],
    errors: npt.NDArray[np.float64],
) -> dict[str, dict[str, float]]:
    """The model inputs of one service (hourly arrays over the lookback, gaps as zeros)."""
    observed = tiers.observed_availability if tiers.observed_availability is not None else 1.0
    days = len(requests) // 24
    daily_err = errors[: days * 24].reshape(days, 24).sum(axis=1) if days else np.zeros(1)
    worst = np.sort(daily_err)[::-1][: max(1, days // 10)]
    burstiness = float(worst.sum() / daily_err.sum()) if daily_err.sum() > 0 else 0.0
    mean = float(requests.mean()) if len(requests) else 0.0
    seasonality = float(requests.std() / mean) if mean > 0 else 0.0
    bound = composite.composite_bound if composite is not None else observed
    externals = [r.availability for r in composite.external_risks] if composite else []
    depth = float(composite.depth) if composite is not None else 0.0
    completeness = tiers.data_quality.data_completeness
    p99 = tiers.observed_p99_s or 0.0
    return {
        "availability": {
            "historical_availability_nines": nines(observed),
            "error_burstiness": burstiness,
            "dependency_bound_nines": nines(bound),
            "external_dependency_reliability_nines": nines(min(externals, default=1.0)),
            "call_chain_depth": depth,
            "traffic_seasonality": seasonality,
            "data_completeness": completeness,
        },
        "latency": {
            "p99_latency_historical_log10_ms": math.log10(max(p99 * 1000, 1e-3)),
            "call_chain_depth": depth,
            "noisy_neighbor_margin": tiers.latency_noise_margin,
            "traffic_seasonality": seasonality,
            "data_completeness": completeness,
        },
    }


@dataclass(frozen=True)
class FleetExplanation:
    base_value: float
    predictions: npt.NDArray[np.float64]
    contributions: npt.NDArray[np.float64]  # (services, features)
    #: Out-of-sample: 1 − SSE/SST of CV_FOLDS-fold cross-validated predictions (never the fit
    #: on the rows the model was trained on, which is ≈ 1 for boosted trees and says nothing).
    r2: float
    unit: str
    r2_rows: int = 0  # fleet rows the cross-validation ran on (≤ CV_MAX_ROWS)


CV_FOLDS = 5
#: Five extra fits on 5,000 rows × 7 features took 4.6–5.1 s (2 cores); on 2,000 rows, 2.0–2.4 s.
CV_MAX_ROWS = 2000
R2_METHOD = f"{CV_FOLDS}-fold cross-validated"


#: Rows the fleet model is fitted on. A larger fleet is fitted on a deterministic sample
#: (seeded, without replacement) of this many services, and every service — in whatever
#: shard it is recommended — is explained by that one model: the fit is the only fleet-wide
#: step, so it must stay small when the per-service work is spread over processes.
FIT_MAX_ROWS = 5000


@dataclass(frozen=True)
class FleetModel:
    """One fitted fleet model of balanced targets, shared by every shard that explains rows.

    Pickles with the sklearn model inside: Dagster hands it to the shards' processes."""

    model: Any  # sklearn GradientBoostingRegressor
    background: npt.NDArray[np.float64]
    r2: float
    unit: str
    r2_rows: int
    fit_rows: int

    def explain(
        self, inputs: Sequence[Mapping[str, float]], features: Sequence[str]
    ) -> FleetExplanation:
        """TreeSHAP (interventional, against the fleet background) for these rows. The
        explainer is built here, once per call, and not at the fit: it is what gives the base
        value (the background's mean prediction), and a shard's process needs it anyway."""
        import shap

        x = _matrix(inputs, features)
        explainer = shap.TreeExplainer(
            self.model, data=self.background, feature_perturbation="interventional"
        )
        values = np.asarray(explainer.shap_values(x, check_additivity=True), dtype=np.float64)
        predictions = np.asarray(self.model.predict(x), dtype=np.float64)
        base = float(np.ravel(explainer.expected_value)[0])
        return FleetExplanation(base, predictions, values, self.r2, self.unit, r2_rows=self.r2_rows)


def _matrix(
    inputs: Sequence[Mapping[str, float]], features: Sequence[str]
) -> npt.NDArray[np.float64]:
    return np.array([[row[f] for f in features] for row in inputs], dtype=np.float64).reshape(
        len(inputs), len(features)
    )


def fit_fleet_model(
    inputs: Sequence[Mapping[str, float]],
    targets: Sequence[float],
    features: Sequence[str],
    *,
    unit: str,
    seed: int = 0,
) -> FleetModel | None:
    """Fit the fleet model of `targets` (None when the fleet is too small).

    The model is fitted on every row, or on FIT_MAX_ROWS of them for a larger fleet; the
    background is BACKGROUND of the fitted rows. The reported `r2` is out-of-sample: the same
    model configuration is fitted CV_FOLDS times (KFold, shuffled, `random_state=seed`), each
    fold predicted by the model that did not see it, and R² = 1 − SSE/SST over those
    out-of-fold predictions. Five extra fits on a 5,000-service fleet took ~5 s, so on a fleet
    larger than CV_MAX_ROWS the folds run on a deterministic sample (seeded, without
    replacement) of CV_MAX_ROWS rows; each fold then trains on fewer rows than the full model,
    so the figure, if anything, understates the full model's fit."""
    if len(inputs) < MIN_FLEET:
        return None
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.model_selection import KFold

    def fleet_model() -> GradientBoostingRegressor:
        return GradientBoostingRegressor(
            n_estimators=120, max_depth=3, learning_rate=0.1, subsample=1.0, random_state=seed
        )

    x = _matrix(inputs, features)
    y = np.asarray(targets, dtype=np.float64)
    fitted = np.arange(len(x))
    if len(x) > FIT_MAX_ROWS:
        fitted = np.sort(
            np.random.default_rng([seed, 2]).choice(fitted, FIT_MAX_ROWS, replace=False)
        )
    model = fleet_model()
    model.fit(x[fitted], y[fitted])
    rng = np.random.default_rng(seed)
    fit_x = x[fitted]
    background = fit_x[rng.choice(len(fit_x), size=min(BACKGROUND, len(fit_x)), replace=False)]

    rows = np.arange(len(x))
    if len(x) > CV_MAX_ROWS:
        rows = np.sort(np.random.default_rng([seed, 1]).choice(rows, CV_MAX_ROWS, replace=False))
    cv_x, cv_y = x[rows], y[rows]
    out_of_fold = np.empty(len(rows))
    for train, test in KFold(CV_FOLDS, shuffle=True, random_state=seed).split(cv_x):
        out_of_fold[test] = fleet_model().fit(cv_x[train], cv_y[train]).predict(cv_x[test])
    total = float(((cv_y - cv_y.mean()) ** 2).sum())
    sse = float(((cv_y - out_of_fold) ** 2).sum())
    r2 = 1.0 - sse / total if total > 0 else 1.0
    return FleetModel(model, background, r2, unit, r2_rows=len(rows), fit_rows=len(fitted))


def explain_fleet(
    inputs: Sequence[Mapping[str, float]],
    targets: Sequence[float],
    features: Sequence[str],
    *,
    unit: str,
    seed: int = 0,
) -> FleetExplanation | None:
    """Fit the fleet model of `targets` and attribute every service's prediction: the fit of
    `fit_fleet_model`, explained on every row. None when the fleet is too small."""
    fitted = fit_fleet_model(inputs, targets, features, unit=unit, seed=seed)
    return fitted.explain(inputs, features) if fitted is not None else None


def attribution_of(
    explanation: FleetExplanation, row: int, features: Sequence[str], inputs: Mapping[str, float]
) -> dict[str, Any]:
    """One service's share of the fleet explanation, largest contribution first."""
    contributions = explanation.contributions[row]
    magnitude = float(np.abs(contributions).sum()) or 1.0
    ranked = sorted(zip(features, contributions, strict=True), key=lambda fc: -abs(fc[1]))
    return {
        "feature_attribution": [
            {
                "feature": name,
                "value": round(float(inputs[name]), 6),
                "contribution": round(float(c), 6),
                "share": round(abs(float(c)) / magnitude, 4),
            }
            for name, c in ranked
        ],
        "attribution_model": {
            "kind": "gradient-boosted trees over the fleet's balanced targets, TreeSHAP "
            "(interventional, fleet background)",
            "unit": explanation.unit,
            "base_value": round(explanation.base_value, 6),
            "prediction": round(float(explanation.predictions[row]), 6),
            # Out-of-sample (cross-validated); `fleet_r2` kept for readers of the old field.
            "fleet_r2": round(explanation.r2, 4),
            "fleet_r2_out_of_sample": round(explanation.r2, 4),
            "r2_method": R2_METHOD,
            "r2_rows": explanation.r2_rows,
        },
    }


def availability_counterfactuals(
    tiers: TierSet,
    composite: CompositeResult | None,
    *,
    rerun: Callable[[float, float | None, float, float | None], float] | None = None,
    dependencies: int = 3,
) -> list[dict[str, Any]]:
    """What-ifs on history (±50% errors) and on each of the weakest hard dependencies (±1
    nine), answered by the recommender's own code: `rerun(error_scale, new_bound,
    success_scale, new_promised_bound)` recomputes the balanced target (same seed, same
    fleet prior) from history changed as the what-if says. A hard dependency's failures reach
    the service, so a dependency at `new` instead of `old` scales the service's successful
    requests by `new / old` and its bound alike: the history and the cap both move. Without
    `rerun`, only the cap moves (`shape_tiers` on the same raw levels)."""
    if tiers.cold_start or tiers.observed_availability is None or tiers.raw_levels is None:
        return []
    observed = tiers.observed_availability
    bound = composite.composite_bound if composite is not None else None
    own = composite.self_availability if composite is not None else observed
    balanced = tiers.availability["balanced"].target
    answers = []
    if rerun is not None:
        for scale, wording in ((0.5, "50% fewer"), (1.5, "50% more")):
            # Every error scales, the service's own share with them: the bound moves by its
            # own factor, the history is re-simulated with the same prior and seed.
            new_own = 1 - (1 - own) * scale
            new_bound = bound * max(new_own, 0.0) / own if bound is not None and own > 0 else None
            promised = (
                tiers.promised_bound * max(new_own, 0.0) / own
                if tiers.promised_bound is not None and own > 0
                else None
            )
            target = rerun(scale, new_bound, 1.0, promised)
            answers.append(_answer(f"If {wording} requests failed (historical error rate)",
                                   "historical_availability_nines", target, balanced))  # fmt: skip
    if composite is not None and bound is not None:
        for factor in composite.weakest_factors[:dependencies]:
            if factor.availability <= 0:
                continue
            for direction, new in _varied(factor):
                new_bound = bound * max(new, 0.0) / factor.availability
                promised = (
                    tiers.promised_bound * max(new, 0.0) / factor.availability
                    if tiers.promised_bound is not None
                    else None
                )
                if rerun is not None:
                    ratio = max(new, 0.0) / factor.availability
                    target = rerun(1.0, new_bound, ratio, promised)
                else:
                    shaped = shape_tiers(tiers.raw_levels, new_bound, observed,
                                         absorbs=tiers.absorbs, promised=promised)  # fmt: skip
                    target = floor_to(float(shaped["balanced"]))
                if factor.kind == "redundancy_group":
                    condition = (
                        f"If every member of {factor.name} ({', '.join(factor.members)}) "
                        f"{direction} by one nine (group {new * 100:.4g}%, "
                        f"from {factor.availability * 100:.4g}%)"
                    )
                else:
                    condition = (
                        f"If {factor.name} {direction} to {new * 100:.4g}% "
                        f"(from {factor.availability * 100:.4g}%)"
                    )
                answers.append(_answer(condition, "dependency_bound_nines", target, balanced,
                                       dependency=factor.name))  # fmt: skip
    return answers


def _varied(factor: Factor) -> list[tuple[str, float]]:
    """A dependency's availability one nine better and one nine worse. A redundancy group
    fails only when all its alternatives do: each member a nine better or worse moves the
    group's unavailability by ten to the number of members."""
    unavailable = 1 - factor.availability
    step = 10.0 ** max(1, len(factor.members)) if factor.kind == "redundancy_group" else 10.0
    return [("improved", 1 - unavailable / step), ("degraded", max(0.0, 1 - unavailable * step))]


def latency_counterfactuals(tiers: TierSet) -> list[dict[str, Any]]:
    if tiers.cold_start or not tiers.observed_p99_s:
        return []
    balanced = tiers.latency["balanced"].target_ms
    answers = []
    for scale, wording in ((0.8, "20% faster"), (1.2, "20% slower")):
        target = float(math.ceil(tiers.observed_p99_s * scale * (1 + tiers.latency_noise_margin)
                                 * 1000))  # fmt: skip
        answers.append({
            "condition": f"If the observed p99 were {wording}",
            "feature": "p99_latency_historical_log10_ms",
            "result": f"Balanced latency target would be {target:.0f} ms (now {balanced:.0f} ms)",
            "balanced_target_ms": target,
            "delta_ms": target - balanced,
        })  # fmt: skip
    return answers


def _answer(
    condition: str, feature: str, target: float, balanced: float, dependency: str | None = None
) -> dict[str, Any]:
    delta = round(target - balanced, 4)
    if delta > 0:
        result = f"Recommended balanced target would increase to {target:g}%"
    elif delta < 0:
        result = f"Recommended balanced target would decrease to {target:g}%"
    else:
        result = f"Recommended balanced target would stay {target:g}%"
    answer: dict[str, Any] = {
        "condition": condition,
        "feature": feature,
        "result": result,
        "balanced_target": target,
        "delta": delta,
    }
    if dependency is not None:
        answer["dependency"] = dependency
    return answer


#: The two fleet models: (SLI type, features, unit), in the order of a document's
#: `recommendations` list.
FLEET_MODELS = (
    ("availability", AVAILABILITY_FEATURES, "nines of the balanced target"),
    ("latency", LATENCY_FEATURES, "log10 ms of the balanced target"),
)
#: Per SLI type, the explained services' model inputs and balanced targets (in the model's
#: unit): all a fleet model is fitted on, small enough to gather from every shard.
ModelRows = dict[str, tuple[list[dict[str, float]], list[float]]]


def model_rows(documents: Sequence[dict[str, Any]]) -> ModelRows:
    """What the fleet models are fitted on, from recommendation documents (before attribution)."""
    explained = [d for d in documents if d.get("model_inputs")]
    rows: ModelRows = {}
    for position, (sli, _, _) in enumerate(FLEET_MODELS):
        tiers = [d["recommendations"][position]["tiers"]["balanced"] for d in explained]
        targets = (
            [nines(t["target"] / 100) for t in tiers]
            if sli == "availability"
            else [math.log10(max(t["target_ms"], 1e-3)) for t in tiers]
        )
        rows[sli] = ([d["model_inputs"][sli] for d in explained], targets)
    return rows


def merge_model_rows(parts: Sequence[ModelRows]) -> ModelRows:
    """The shards' rows in shard order (the order of the unsharded fleet)."""
    merged: ModelRows = {sli: ([], []) for sli, _, _ in FLEET_MODELS}
    for part in parts:
        for sli, (inputs, targets) in part.items():
            merged[sli][0].extend(inputs)
            merged[sli][1].extend(targets)
    return merged


def fit_fleet_models(rows: ModelRows) -> dict[str, FleetModel | None]:
    """Both fleet models, fitted once per run and shared by every shard."""
    return {
        sli: fit_fleet_model(*rows[sli], features, unit=unit)
        for sli, features, unit in FLEET_MODELS
    }


def model_fits(models: Mapping[str, FleetModel | None]) -> dict[str, float]:
    """The out-of-sample R² per SLI type, for the run's metadata."""
    return {f"{sli}_r2": round(m.r2, 4) for sli, m in models.items() if m is not None}


def attribute_documents(
    documents: Sequence[dict[str, Any]], models: Mapping[str, FleetModel | None]
) -> None:
    """Add SHAP attributions from the fleet models to these documents, in place."""
    explained = [d for d in documents if d.get("model_inputs")]
    for position, (sli, features, _) in enumerate(FLEET_MODELS):
        fitted = models.get(sli)
        inputs = [d["model_inputs"][sli] for d in explained]
        explanation = fitted.explain(inputs, features) if fitted is not None and inputs else None
        for row, document in enumerate(explained):
            target = document["recommendations"][position]["explanation"]
            if explanation is None:
                target["feature_attribution"] = []
                target["attribution_note"] = (
                    f"Fewer than {MIN_FLEET} services with history: no fleet model to explain."
                )
                continue
            target.update(attribution_of(explanation, row, features, inputs[row]))


def attribute_fleet(documents: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Add SHAP attributions to every recommendation document of a fleet run, in place (fit
    and explain in one process: the unsharded path). Returns the fits (out-of-sample R² per SLI
    type, see `fit_fleet_model`) for the run's metadata."""
    models = fit_fleet_models(model_rows(documents))
    attribute_documents(documents, models)
    return model_fits(models)
