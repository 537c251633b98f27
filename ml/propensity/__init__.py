"""Purchase propensity: point-in-time customer features and next-window purchase labels."""
