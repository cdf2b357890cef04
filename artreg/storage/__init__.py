"""The storage layer: the SQLite catalog file, its schema, manifests and the blob stores.

Private to artreg (see ARCHITECTURE.md): the modules above import its modules by name, and
nothing here imports anything above the base layer.
"""
