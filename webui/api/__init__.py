"""The REST API: A1111's /sdapi/v1 and Atelier's /atelier/v1, one module per area."""
