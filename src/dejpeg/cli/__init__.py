"""Command line interface; see ``dejpeg --help``."""
