"""Odonto Desk: dental charting desktop client for the Apex Odonto FHIR R4 partner API."""

__version__ = "0.1.0"
