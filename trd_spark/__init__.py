"""trd-spark: genetic correlates of treatment-resistant depression in biobank data."""

__version__ = "0.1.0"
