"""Limits every AWS API shares."""

# AWS's Integer type is a signed 32-bit number: a larger count, size or period is refused by every API
AWS_INTEGER_MAX = 2**31 - 1
