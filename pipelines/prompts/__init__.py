"""A1111 prompt language → text-encoder conditioning."""
