"""The one place that knows the Generic Object Decoding (GOD) schema (Horikawa & Kamitani 2017).

The release is one bdpy BData HDF5 file per subject (``Subject1.h5`` ... ``Subject5.h5``; a
subject may also come as several session files, ``Subject1_<session>.h5``, concatenated here), the
stimulus list ``stimulus_ImageNetTraining.tsv`` and the images ``images/training/<name>.JPEG``.

BData columns used here (metadata flags are 1 on the columns they describe):

- ``VoxelData``: the voxel columns; ``voxel_x``, ``voxel_y``, ``voxel_z``: their coordinates (mm).
- ``ROI_<name>``: ROI membership flags over the voxel columns (see :data:`ROIS`).
- ``DataType`` (1 = training, 2 = perception test, 3 = imagery), ``Run``, ``Block``,
  ``stimulus_id``; newer files also have ``category_index`` and ``image_index``.

Training rows are in *presentation* order. They are matched to images by ``stimulus_id``, never by
position. A stimulus_id encodes ``n01518878_5958`` as the float ``1518878.005958``; the TSV writes
it with trailing zeros dropped (``1518878.01491`` is image 14910). Both are turned into one exact
integer key, ``synset * 10**6 + image_number``, before any comparison.
"""

# The schema's names, handed on from the modules that define them: ``god.<name>`` is the API.
from brainteacher.data.god.bdata import SubjectRecording, read_subject, write_bdata
from brainteacher.data.god.dataset import GODLayout, TrainingData, image_paths, open_image, training_data, verify_images
from brainteacher.data.god.stimuli import (
    DATATYPE_IMAGERY,
    DATATYPE_TEST,
    DATATYPE_TRAINING,
    EVALUATION_IMAGE_DIR,
    EVALUATION_TSV,
    IMAGE_SUFFIX,
    TEST_IMAGE_DIR,
    TEST_TSV,
    TRAINING_IMAGE_DIR,
    TRAINING_TSV,
    StimulusTable,
    name_from_stimulus_key,
    read_stimulus_tsv,
    roi_key,
    stimulus_id_text,
    stimulus_key_from_name,
    stimulus_key_from_tsv_text,
    stimulus_keys_from_ids,
    write_stimulus_tsv,
)

# ROI and subject names live in the torch-free registry (the workflow reads them there).
from brainteacher.registry import ROI_UNIONS, ROIS, SINGLE_ROIS, SUBJECT_RE  # noqa: F401

__all__ = [
    "ROIS",
    "SINGLE_ROIS",
    "ROI_UNIONS",
    "DATATYPE_TRAINING",
    "DATATYPE_TEST",
    "DATATYPE_IMAGERY",
    "TRAINING_TSV",
    "TEST_TSV",
    "TRAINING_IMAGE_DIR",
    "TEST_IMAGE_DIR",
    "EVALUATION_TSV",
    "EVALUATION_IMAGE_DIR",
    "IMAGE_SUFFIX",
    "roi_key",
    "stimulus_key_from_name",
    "stimulus_keys_from_ids",
    "stimulus_key_from_tsv_text",
    "stimulus_id_text",
    "name_from_stimulus_key",
    "StimulusTable",
    "read_stimulus_tsv",
    "write_stimulus_tsv",
    "SubjectRecording",
    "read_subject",
    "TrainingData",
    "training_data",
    "GODLayout",
    "open_image",
    "image_paths",
    "verify_images",
    "write_bdata",
    "SUBJECT_RE",
]
