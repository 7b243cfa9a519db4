"""A physically grounded simulated Kepler × LAMOST × Gaia survey (``docs/SCIENCE.md`` §3)."""

from data.simulate.population import POPULATIONS, SurveyConfig, draw_population
from data.simulate.survey import SimulationSummary, simulate_survey

__all__ = ["POPULATIONS", "SimulationSummary", "SurveyConfig", "draw_population", "simulate_survey"]
