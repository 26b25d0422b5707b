"""Image generation: requests, samplers, seeds, infotext and the generation engine."""
