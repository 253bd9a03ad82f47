"""The whole configuration as one document (docs/configuration.md).

``document`` exports it, ``plan`` validates the shape and diffs two exports,
``apply`` writes a document in one transaction and answers the plan. The kinds and
their natural keys are in ``kinds``; rotations, being effective-dated, in
``rotation_versions``.
"""
