"""What the city learns: satisfaction per district x service x week from the DP releases only,
corrected for the classifier's errors, the changes that are not noise, the sensor figures a city
already reads, and their fusion — recomputable by anyone from public data (DESIGN §7b)."""

from ombud.insight.published import PublishedInsight
from ombud.insight.report import Inputs, compute, verify_insight, view
from ombud.insight.source import gather

__all__ = ["Inputs", "PublishedInsight", "compute", "gather", "verify_insight", "view"]
