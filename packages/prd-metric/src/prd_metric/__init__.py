"""Precision and recall for distributions (thesis ch. 5): PRD curves, F_8/F_1/8 and FID from one set of features."""
