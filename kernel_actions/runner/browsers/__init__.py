"""Local browsers: Kernel's browser API backed by local Chromium processes."""
