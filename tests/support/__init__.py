"""Small programs the tests run as separate processes."""
