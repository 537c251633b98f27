"""An independent pandas re-implementation of the headline figures, used to cross-check the marts."""
