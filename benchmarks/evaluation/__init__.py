"""Helpers of the quality benchmark (``benchmarks/quality.py``), one job per module.

``evalset``         the frozen synthetic evaluation set (pastegen tuples of held-out photos)
``metrics``         the metrics, with and without ground truth (0-255 scale)
``methods``         the methods under test (baselines, the network)
``networks``        ``--model`` / ``--model-label`` / ``--model-name``: loading and identifying networks
``cases``           the 30 cases of ``cases/crosspaste.csv``
``landmark_cases``  the cross-person cases made from the landmarks of ``faces/test``
``mild``            the same-photo mild-change test
``realrun``         running methods on the real cases and the mild test; their tables and sheets
``real``            the 512-pixel view of the landmark cases and the mild test (zoo figures, ablation)
``quick``           the ablation's evaluation
``sheets``          comparison sheets (JPEG grids)
``report``          the synthetic set's and speed's tables and plots
``speed``           time per image
"""
