"""Storage: images, layers, archives, container root filesystems and the files
in them.  Uses state; knows nothing of containers' lifecycle.
"""
