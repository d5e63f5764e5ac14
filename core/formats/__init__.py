"""Text formats: Go's fmt and templates, durations and timestamps.  Leaves:
they import nothing of husk but husk.define.
"""
