"""kessai: an open-source payment server that speaks the KOMOJU API."""

__version__ = "0.1.0"
