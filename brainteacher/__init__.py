"""brainteacher: human fMRI responses (Generic Object Decoding) as a teacher for an image classifier."""

__version__ = "0.1.0"
