"""The embedded local AWS: a moto server in its own process on 127.0.0.1, extended by the project.

`manager` starts, finds and stops it; `server` is the process itself; `extensions` patch moto where it is
hollow or wrong for this tool. On top of moto the server installs `jobs` (processing, training and tuning jobs
that run), `serving` (endpoints that serve, UpdateEndpoint, InvokeEndpoint), `registry` (the Model Registry as AWS
documents it), `autoscaling` (Application Auto Scaling on endpoint variants) and `alarms` (CloudWatch alarm
evaluation). Nothing outside this package knows it exists except through `aws.endpoint_url: local`.
"""
