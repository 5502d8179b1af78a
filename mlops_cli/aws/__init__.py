"""The AWS layer: sessions and clients, error translation, naming rules and tags. The only place botocore is handled."""
