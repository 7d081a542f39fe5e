"""What every role shares: stubs, codecs, errors, bootstrap, metrics, the controller and launcher."""
