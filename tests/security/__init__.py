"""Attacks and hostile input, reproduced through the routes an attacker takes (issue: security)."""
