"""Monitoring alerts (R16): the senders' formats read into one shape, and the office's rules."""
