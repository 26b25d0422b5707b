"""Test-wide setup: offline, one torch thread, temp homes for Hugging Face and Gradio."""

from __future__ import annotations

import os
import tempfile

_TMP = tempfile.mkdtemp(prefix="atelier-tests-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HOME", os.path.join(_TMP, "hf"))
os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(_TMP, "gradio"))

import torch  # noqa: E402

# Two threads are ~20x slower whenever the other core is busy; tests use one.
torch.set_num_threads(1)
