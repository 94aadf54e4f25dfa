"""Lip sync: mouth motion on any character from the phones of the speech.

``visemes`` turns phones (ARPAbet) into a per-frame :class:`MouthTrack` - canonical viseme
weights with co-articulation, plus a jaw opening; ``targets`` maps that track onto the
mouth controls characters carry (Oculus / Ready Player Me visemes, VRM vowels, ARKit
blendshapes, Preston Blair / Rhubarb / Papagayo mouths) and finds them, and jaw bones,
by name; ``sources`` decides where the phones come from (TextGrid phones tier,
pocketsphinx alignment, spelling) or, without words, the jaw of the generated motion
or the loudness of the audio.

Only ``visemes`` and ``targets`` are imported here: they need numpy alone, so the Blender
add-on can use them on its main thread. Import ``egg_core.lipsync.sources`` explicitly
(it reads audio and may run pocketsphinx). See docs/LIPSYNC.md.
"""

from egg_core.lipsync.targets import TARGET_SETS, TargetSet, detect_set, find_jaw_bone, target_set
from egg_core.lipsync.visemes import (
    VISEMES,
    Coarticulation,
    MouthTrack,
    mouth_from_jaw,
    mouth_from_phones,
)

__all__ = [
    "TARGET_SETS", "TargetSet", "detect_set", "find_jaw_bone", "target_set",
    "VISEMES", "Coarticulation", "MouthTrack", "mouth_from_jaw", "mouth_from_phones",
]
