"""The trained reader at answer time: its network, its inputs, its weights and where they live."""
