"""Figures drawn from the result tables: shared plumbing (``figures``), the ROI comparison figures
(``rois``) and the evaluation figures (``evaluation``).

Kept empty of imports, so that importing a figure module loads only what it needs.
"""
