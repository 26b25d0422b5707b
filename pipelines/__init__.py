"""Atelier's engine: model catalog and cache, generation, prompts, faces, forensics.

Nothing in this package imports Gradio or FastAPI; the web layer lives in ``webui``.
"""

__version__ = "0.1.0"
