"""mlops: build and run a machine-learning system on AWS SageMaker from YAML configs."""

__version__ = "0.1.0"
