"""Intake's API views, one module per concern: ``leads`` (a callback request and the
staff's view of one lead), ``events`` (the call to action's beacons and its
configuration) and ``reports`` (marketing's conversion funnel)."""
