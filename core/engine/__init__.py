"""The engine: the public Container and Runtime API, the internal lifecycle
steps, exec sessions, dependencies, waiting, the OCI runtime interface and
the plugin facade.  It calls state and storage, never the CLI or the API.
"""
