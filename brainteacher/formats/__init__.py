"""The on-disk formats, one module each: what a folder holds, how it is written and how it is read.

- :mod:`~brainteacher.formats.teacher_dir`: a teacher folder (a decoder's or the network
  teacher's out-of-fold logits), written by ``decode`` and ``network-teacher``, read by students;
- :mod:`~brainteacher.formats.student_dir`: a student's result folder, written by ``distill``,
  read by ``aggregate``, ``comparisons`` and ``plots``;
- :mod:`~brainteacher.formats.image_cache`: the uint8 image cache and its sidecar (``images``).

Each has a ``FORMAT_VERSION``, written into the folder's ``metrics.json`` (the cache's sidecar)
and checked on read. Importing them pulls in numpy only (the workflow imports the file names).
"""

from brainteacher.formats import image_cache, student_dir, teacher_dir
from brainteacher.formats._version import check_version

__all__ = ["teacher_dir", "student_dir", "image_cache", "check_version"]
