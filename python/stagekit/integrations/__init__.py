"""Integrations with training and data engines (trl, Ray). Each imports its engine only when used."""
