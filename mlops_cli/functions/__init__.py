"""AWS Lambda functions the tool deploys. Each module is a whole function: standard library and boto3 only (what the
Lambda Python runtime provides), zipped on its own, never importing the rest of mlops_cli."""
