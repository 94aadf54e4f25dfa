"""Training, data loading and evaluation for EGGesture; builds on egg_core.

Modules:

* ``data`` -- dataset folders (BEAT2, Trinity/GENEA, new-speaker) -> cached features -> windows
* ``train`` -- ``python -m training.train``: the training loop (resume, torchrun, logs)
* ``metrics`` -- BC, L1div, pairwise L1Div, FGD, codebook usage, per-class recall
* ``evaluator`` / ``train_evaluator`` -- the project's own FGD feature autoencoder
* ``evaluate`` -- ``python -m training.evaluate``: every metric for a checkpoint
* ``minidata`` -- miniature synthetic dataset trees for tests and smoke runs
* ``synth`` -- the synthetic long-tail gesture benchmark generator (issue 5)
"""
