"""The chat UI (Gradio). The core package `rag` does not import it."""
