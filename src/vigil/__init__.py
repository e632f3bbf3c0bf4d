"""Vigil: an accountable camera network with face recognition."""

__version__ = "0.1.0"
