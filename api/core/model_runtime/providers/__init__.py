"""Provider implementations of the model runtime (one module per wire format); use registry.py, not these."""
