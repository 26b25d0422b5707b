"""Face detection, landmarks, identity embeddings and face swap (insightface or built-in)."""
