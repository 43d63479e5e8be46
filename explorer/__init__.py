"""DP privacy-utility explorer: train small models with DP-SGD and measure what privacy they keep."""
__version__ = "0.1.0"
