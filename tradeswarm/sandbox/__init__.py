"""Sandboxes: one async layer over the e2b SDK, backed by E2B or the local sandboxd."""
