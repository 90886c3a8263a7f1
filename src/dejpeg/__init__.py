"""dejpeg (bootstrapping)."""
