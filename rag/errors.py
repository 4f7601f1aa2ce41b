"""Errors that tell the user what to do. The CLI and UI turn them into messages at the edge."""


class RagError(Exception):
    """Base class: the message is meant for the user and says how to fix the problem."""


class CorpusError(RagError):
    """The corpus folder is missing, empty or holds no usable document."""


class IndexMismatchError(RagError):
    """The index on disk was built with other settings or another embedding model."""


class IndexMissingError(RagError):
    """No index has been built yet at the given folder."""


class StoreUnreachableError(RagError):
    """The database holding the index (RAG_STORE=postgres) cannot be reached or refuses the login."""


class QuestionError(RagError):
    """The question is empty, too long or not text."""


class GeneratorError(RagError):
    """The language model could not be loaded, or failed while answering."""


class ModelBusyError(GeneratorError):
    """Another process of this machine runs the local model (rag/models/slots.py): a second would slow both."""


class ModelError(RagError):
    """The embedding model folder is missing or fails its check."""


class BusyError(RagError):
    """Too many questions are already waiting for the model; the user should ask again shortly."""


class AccessError(RagError):
    """The caller may not do this (e.g. change the corpus without an editor login), or the server would be open
    to others without a login."""


class FetchError(RagError):
    """A link could not be added: refused (not http or https, a private address) or its page could not be fetched."""


class ModelNotReadyError(GeneratorError):
    """The local model (llama.cpp and its GGUF files) is still being set up in the background; ready shortly."""
