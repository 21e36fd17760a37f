"""The JSON bodies of the server's routes (tuneforge/serve/app.py): what a caller sends and gets back; unknown
fields are refused (422 naming them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..store.registry import STAGES


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] | None = Field(None, description="Texts to classify (limits: --max-texts, --max-chars)")
    images: list[str] | None = Field(None, description="Image-classification models: the image files (PNG, JPEG, "
                                     "...) base64-encoded, a data: URL prefix allowed (limits: 8 per request, 2 MB each)")
    caller_id: str | None = Field(None, max_length=256, description="Sticky A/B assignment: same id, same version")


class PredictResponse(BaseModel):
    model: str
    version: int
    predictions: list[dict]


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    stage: str = Field(description=f"one of {', '.join(STAGES)}")


class TrafficRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weights: dict[str, float] = Field(description='version -> weight, e.g. {"1": 90, "2": 10}')
    shadow: int | None = Field(None, description="a version that gets a copy of every request, never answering")
