"""Small command-line tools built on the SDK."""
