"""Word-timing machinery behind :mod:`egg_core.words`.

``speech`` (loudness envelope, speech regions, cut points), ``normalize`` (transcript
words -> dictionary words, English check), ``sphinx`` (forced alignment with
pocketsphinx, optional) and ``asr`` (transcription with faster-whisper, optional).
The optional packages are imported only when used.
"""
