"""Model files: one safetensors file holding the weights and a JSON header; never pickle.

``file_format`` reads and writes the file (checksums, version checks, bounded reading), ``header`` and
``schema`` say what its metadata may hold, ``atomic`` makes writes atomic and ``locks`` holds file locks,
``plain_data`` turns nested plain data into JSON plus tensors, ``modules`` and ``estimators`` hold the two
kinds of model, and ``models`` is the public face: ``save``, ``load`` and checkpoints.
"""

from .atomic import atomic_write
from .errors import ModelFileError
from .file_format import FORMAT, FORMAT_VERSION, KINDS, METADATA_KEY, file_sha256, read_file, write_file
from .models import architecture, load, load_checkpoint, load_with_metadata, save, save_checkpoint

__all__ = ["FORMAT", "FORMAT_VERSION", "KINDS", "METADATA_KEY", "ModelFileError", "architecture", "atomic_write",
           "file_sha256", "load", "load_checkpoint", "load_with_metadata", "read_file", "save", "save_checkpoint",
           "write_file"]
