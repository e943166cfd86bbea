"""Data shipped with mlkit: the advisory snapshot of module 08."""
