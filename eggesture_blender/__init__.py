"""EGGesture for Blender: speech-driven co-speech gestures on SMPL-X armatures and users' own characters.

Layout (one concept per module):

* ``compat``     -- the only code that knows Blender 4.2 vs 4.4+/5.0 APIs
* ``keyframes``  -- bulk F-curve writer, take naming, keeping previous actions
* ``armature``   -- build / recognise SMPL-X armatures, SMPL-X poses -> bone channels
* ``body_mesh``  -- the licensed SMPL-X body: skinned mesh, corrective and expression shape keys
* ``retarget``   -- a user's own character: bone map on the armature, retargeted takes
* ``lipsync``    -- the mouth of any character: jaw bone, viseme or ARKit shape keys
* ``worker``     -- the generation job (no bpy): in-process or as an external Python
* ``backend``    -- runs a job on a thread or subprocess, polled from the main thread
* ``properties`` / ``preferences`` / ``operators`` / ``panel`` -- the UI
* ``batch``      -- headless command line; ``build`` -- makes the extension zip

Sub-modules are imported inside :func:`register` so that ``python -m
eggesture_blender.build`` and the worker never need bpy.
"""

from __future__ import annotations


def _modules():
    from . import operators, panel, preferences, properties

    return (properties, preferences, operators, panel)


def register() -> None:
    for module in _modules():
        module.register()


def unregister() -> None:
    for module in reversed(_modules()):
        module.unregister()
