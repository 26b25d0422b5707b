"""Media files other than still images (video in and out)."""
