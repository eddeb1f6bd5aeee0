"""Tools for checking gradients: gradcheck, gradgradcheck, hypothesis strategies, torch oracle."""
from tinydl.testing.gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]
