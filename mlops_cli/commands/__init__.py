"""The command line: parse options, load the config, call a service, render. No boto3 here."""
