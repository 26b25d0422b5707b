"""Tests of the REST API (webui/api/), through HTTP."""
