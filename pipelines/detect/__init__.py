"""Learned deepfake detectors: architectures, checkpoint layouts, face scoring, video, training.

No Gradio here; the Detect tab and the API call these functions through the application context.
"""
