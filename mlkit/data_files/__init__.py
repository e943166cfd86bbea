"""Data shipped with mlkit: the advisory snapshot of module 08, the HAProxy config template."""
