"""The Qt user interface. The only package that may import Qt."""
