"""Numbers every part of the generator shares: frame rate, sample rate, clip names, format version."""

GENERATOR_VERSION = 1
FPS = 30
SAMPLE_RATE = 16000
STEM_PREFIX = "synth_"
