"""The trained reader: its data, network, training command and runtime."""
