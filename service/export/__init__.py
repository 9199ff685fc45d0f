"""Preference dataset export: judgments in, trainer-ready JSON Lines out.

The package's modules are imported by name: ``exporter`` runs an export
(``export_preferences``, the one domain function) and ``options`` holds what a caller
may ask of it. Nothing is imported here, so that importing one of them (``rankroom
export --help`` needs only the options) does not load the rest.
"""
