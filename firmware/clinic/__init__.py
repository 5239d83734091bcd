"""The clinic app: one collector and one database for every device, a web dashboard over it."""
