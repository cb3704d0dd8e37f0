"""The generated datasets: procedurally drawn videos of moving textured shapes.

Each video of the embedded dataset shows one shape (the *appearance* class, like K400's
object/scene cue: six outlines, each with its own grey surface texture that every tube of
the object shows) doing one motion (the *motion* class, like SSv2: six directions of travel,
60° apart) over a smooth random-colour background, sometimes with a plain static ellipse as
a distractor. Everything is a pure function of ``(seed, split, index)``. The format was
designed so that the demo's tiny model can learn both label sets in CPU minutes
(BENCHMARKS.md, "Learning you can see: the demo recipe"): textures fine enough that one 8×8
tube of a 64² clip shows its class, motion slow enough that those textures do not alias
between the sampled frames (stride 4), a distractor whose outline is no class's, and
directions of travel only, since the tiny ViT does not tell the sense of a rotation apart
even supervised (BENCHMARKS.md, "The supervised ceiling and its crops").
``SynthConfig(pattern="stripes", object_colours="random")`` gives the format-2 look (random
stripes and hues: only the outline tells the classes apart).

- ``spec``: the settings, the class names, the format version and what each video contains
  (``video_spec``).
- ``render``: a video's frames and object ids as arrays.
- ``write``: H.264 ``.mp4`` files and DAVIS-layout folders.
- ``pool``: the process pool the datasets are generated on.
- ``cache``: the cache folder, atomic dataset folders, ``classes.json``.
- ``dataset``: the embedded dataset's files (``write_dataset``, ``default_dataset``).
- ``tasks``: the multi-label and repetition-counting videos of the SEVERE task-shift heads.
"""
