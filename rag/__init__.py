"""Offline, bilingual question answering over news articles, with citations.

The core package: no UI imports, models loaded on first use.
"""

__version__ = "0.1.0"
