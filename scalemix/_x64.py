"""float64 inside scalemix's entry points only (never a global side effect of ``import scalemix``)."""

import jax

float64 = jax.enable_x64
"""Context manager: ``with float64(): ...`` runs the block with 64-bit JAX arrays."""
