"""The embedded local AWS: a moto server in its own process on 127.0.0.1, extended by the project.

`manager` starts, finds and stops it; `server` is the process itself; `extensions` patch moto where it is
hollow or wrong for this tool. Nothing outside this package knows it exists except through
`aws.endpoint_url: local`.
"""
