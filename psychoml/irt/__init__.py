"""psychoml.irt: Bayesian and marginal-ML item response theory, and IRT for benchmark design.

``fit(data, model="2pl", method="nuts")`` returns an :class:`IrtResult` (item and person tables, ArviZ
InferenceData, information, expected scores, LOO/WAIC comparison, item fit, posterior predictive checks).
``fit_benchmark`` / ``select_items`` / ``estimate_accuracy`` design smaller, sharper LLM benchmarks from a
model x item correctness matrix. PyMC, pytensor, nutpie and ArviZ are imported only when a Bayesian fit runs.
"""

from psychoml.irt._bench_io import CorrectnessMatrix, correctness_matrix, read_correctness, read_lm_eval_samples
from psychoml.irt._bench_sim import SimulatedLeaderboard, simulate_leaderboard, simulate_prompt_variants
from psychoml.irt._mml import Mml2PLResult, eap_theta, fit_2pl_mml, item_information
from psychoml.irt.benchmark import (
    SELECTION_METHODS,
    AccuracyEstimateResult,
    AdaptiveTestingResult,
    BenchmarkFitResult,
    ItemSelectionResult,
    PromptSensitivityResult,
    SelectionCrossValidationResult,
    cross_validate_selection,
    estimate_accuracy,
    fit_benchmark,
    load_calibration,
    prompt_sensitivity,
    save_calibration,
    select_items,
    simulate_adaptive_testing,
)
from psychoml.irt.fit import METHODS, MODELS, IrtConvergenceWarning, IrtResult, fit, load_result

__all__ = [
    "METHODS",
    "MODELS",
    "SELECTION_METHODS",
    "AccuracyEstimateResult",
    "AdaptiveTestingResult",
    "BenchmarkFitResult",
    "CorrectnessMatrix",
    "IrtConvergenceWarning",
    "IrtResult",
    "ItemSelectionResult",
    "Mml2PLResult",
    "PromptSensitivityResult",
    "SelectionCrossValidationResult",
    "SimulatedLeaderboard",
    "correctness_matrix",
    "cross_validate_selection",
    "eap_theta",
    "estimate_accuracy",
    "fit",
    "fit_2pl_mml",
    "fit_benchmark",
    "item_information",
    "load_calibration",
    "load_result",
    "prompt_sensitivity",
    "read_correctness",
    "read_lm_eval_samples",
    "save_calibration",
    "select_items",
    "simulate_adaptive_testing",
    "simulate_leaderboard",
    "simulate_prompt_variants",
]
