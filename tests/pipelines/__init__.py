"""Tests of the engine (pipelines/): generation, prompts, models, faces, DeepFaceLab, detection, provenance."""
