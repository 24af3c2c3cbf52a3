"""Read-only FastAPI over the Feast online store: published lists, with a fallback for unknown users."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from fastapi import FastAPI, HTTPException, Path, Query
from pydantic import BaseModel

from conf import Config
from serving.store import FALLBACK, PublishedList, open_store, read_list, read_manifest


class Item(BaseModel):
    rank: int
    movie_id: int
    title: str
    year: int | None
    score: float
    reason: str


class Recommendations(BaseModel):
    user_id: int
    version: str
    generated_at: str
    fallback: bool
    items: list[Item]


@dataclass
class _Published:
    """The current version (re-read every `ttl` seconds) and its fallback list, cached per version."""

    store: object
    ttl: float
    version: str | None = None
    checked_at: float = 0.0
    fallback: PublishedList | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> tuple[str, PublishedList] | None:
        now = time.monotonic()
        if self.version is None or now - self.checked_at > self.ttl:
            with self.lock:
                version = read_manifest(self.store)
                if version is not None and version != self.version:
                    self.fallback = read_list(self.store, version, FALLBACK)
                self.version, self.checked_at = version, now
        if self.version is None or self.fallback is None:
            return None
        return self.version, self.fallback


def _items(published: PublishedList, k: int) -> list[Item]:
    return [
        Item(rank=i + 1, movie_id=published.movie_ids[i], title=published.titles[i],
             year=published.years[i] or None, score=published.scores[i], reason=published.reasons[i])
        for i in range(min(k, len(published.movie_ids)))
    ]


def create_app(cfg: Config, store=None) -> FastAPI:
    """The API for `cfg`; `store` defaults to the Feast store the config names."""
    published = _Published(store if store is not None else open_store(cfg), cfg.serving.manifest_ttl_seconds)
    app = FastAPI(title="movierec", version="1", description="Precomputed, explained movie recommendations (read-only).")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/users/{user_id}/recommendations", response_model=Recommendations)
    def recommendations(
        user_id: int = Path(ge=0, description="the user's id"),
        k: int = Query(cfg.serving.default_k, ge=1, le=cfg.serving.max_k, description="items to return"),
    ) -> Recommendations:
        current = published.current()
        if current is None:
            raise HTTPException(status_code=503, detail="no recommendation lists have been published yet")
        version, fallback = current
        personal = read_list(published.store, version, user_id)
        chosen = personal or fallback
        return Recommendations(user_id=user_id, version=version, generated_at=chosen.generated_at,
                               fallback=personal is None, items=_items(chosen, k))

    return app


def serve(cfg: Config, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(cfg), host=host or cfg.serving.host, port=port or cfg.serving.port, log_level="info")
