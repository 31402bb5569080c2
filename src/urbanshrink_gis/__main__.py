"""Run the command line as ``python -m urbanshrink_gis``."""

from urbanshrink_gis.cli import main

main()
