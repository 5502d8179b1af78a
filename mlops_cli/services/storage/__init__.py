"""The storage stage: the data bucket, its access-log bucket and encryption key, dataset uploads and listings."""
