"""Helpers for mitmd's integration and sandbox tests.

Everything here drives real binaries and real sockets on loopback:
collectors for syslog and sd_notify datagrams, a factory that starts mitmd
on a throw-away configuration, local origins (Python HTTPS and HTTP, nginx),
and readers of /proc. Nothing sleeps where a condition can be polled.
"""
