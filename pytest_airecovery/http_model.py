"""Former import path of the OpenAI-compatible HTTP adapter, kept for loaders written against it.

The adapter lives in :mod:`pytest_airecovery.models.http`.
"""

from pytest_airecovery.models.http import (  # noqa: F401 (re-exported)
    ArtifactUnavailable,
    HttpModelError,
    OpenAIChatPredictor,
    openai_chat_model,
)
