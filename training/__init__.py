"""Training, data loading and evaluation for EGGesture; builds on egg_core."""
