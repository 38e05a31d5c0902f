"""Seller levels: a configurable ladder, metrics kept by a projector, evaluation, privileges."""

from .ladder import METRICS, Level, LevelLadder, Metric, Privileges, Requirement, default_ladder
from .model import (
    Check,
    EvaluationSummary,
    Figures,
    LevelReport,
    SellerBuyer,
    SellerLevel,
    SellerMetrics,
)

__all__ = [
    "METRICS",
    "Check",
    "EvaluationSummary",
    "Figures",
    "Level",
    "LevelLadder",
    "LevelReport",
    "Metric",
    "Privileges",
    "Requirement",
    "SellerBuyer",
    "SellerLevel",
    "SellerMetrics",
    "default_ladder",
]
