"""EGGesture core: speech-driven co-speech gesture generation (no Blender imports).

Layout: ``rotations`` and ``skeleton`` are the maths; ``motion`` is the in-memory
motion type; ``formats`` reads and writes files; ``model`` holds the networks;
``inference`` turns audio (+ words) into motion.
"""

__version__ = "0.1.0"
