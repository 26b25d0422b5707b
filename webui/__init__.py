"""Atelier's web layer: Gradio UI and FastAPI routes over one application context.

No torch code lives here; every request becomes a typed engine request.
"""
