"""What the CLI and the API show and parse alike: inspect documents, ps rows,
image summaries, filters, mount and volume options, detach keys.  Both
front ends call it; it never calls them.
"""
