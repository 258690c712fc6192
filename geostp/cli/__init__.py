"""Command-line interface: `geostp data|models|train|forecast|evaluate|plot`."""
