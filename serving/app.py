"""Read-only FastAPI over the Feast online store: published lists per experiment variant, similar
movies and movie cards, with a flagged fallback for unknown users and for a store that is down."""


import gc
import hmac
import os
import socket
from contextlib import asynccontextmanager
from enum import Enum
from typing import Annotated
from pathlib import Path as FilePath

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.middleware import Middleware
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from conf import Config
from models.segments import GENRE_PREFIX, SEGMENT_PREFIX, age_band
from serving.exposures import ExposureLog, FileSink
from serving.fast_path import ROUTE_PATH, RecommendationsFastPath, Rules
from serving.fast_path import Request as FastRequest
from serving.metrics import Metrics, MetricsMiddleware
from serving.reader import Published, Reader, StoreUnavailable
from serving.responses import envelope, interleave, poster
from serving.store import ItemList, OnlineLists, open_store
from serving.variants import assign

STATIC = FilePath(__file__).resolve().parent / "static"
MAX_ID = 2**63 - 1
# On SIGTERM, in-flight requests get this long to finish (each is bounded by the store deadline); a client
# holding a connection open cannot keep the process from stopping.
SHUTDOWN_SECONDS = 5
MAX_GENRES = 10             # genres an onboarding request merges
MAX_GENRES_TEXT = 500


class Item(BaseModel):
    rank: int
    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    poster_path: str | None
    poster_url: str | None = Field(description="full TMDB image URL, when the movie has a poster path")
    score: float


class RecommendedItem(Item):
    reason: str = Field(description='why it is recommended, e.g. "Because you watched Heat"')
    slot: str = Field(description="similar | diverse | trending: the part of the list it fills")


class Recommendations(BaseModel):
    user_id: int
    version: str = Field(description="the published version (the pipeline run that produced it)")
    generated_at: str
    experiment: str
    variant: str
    context: str
    fallback: bool = Field(description="true when the user has no list of their own and got the fallback list")
    degraded: bool = Field(description="true when the store failed and the list came from the in-process cache")
    segment: str | None = Field(None, description=(
        'set when the list is not the user\'s own: their profile\'s segment list (e.g. "gender=F|age=25-34") or, '
        'for a new user who named genres, the genre lists it was merged from (e.g. "genres=Comedy,Drama|age=25-34")'))
    items: list[RecommendedItem]


class SimilarMovies(BaseModel):
    movie_id: int
    version: str
    items: list[Item]


class MovieCard(BaseModel):
    movie_id: int
    version: str
    title: str
    year: int | None
    genres: list[str]
    overview: str
    runtime: float | None
    vote_average: float | None
    director: str | None
    poster_path: str | None
    poster_url: str | None


class Problem(BaseModel):
    detail: str


def json_response(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def create_app(cfg: Config, lists: OnlineLists | None = None, metrics_dir: str | None = None) -> FastAPI:
    """The API for `cfg`; `lists` defaults to the Feast store the config names (tests pass a failing one).
    `metrics_dir`: Prometheus' multiprocess folder, where every worker of one server records its metrics."""
    serving = cfg.serving
    segments = cfg.models.segments
    metrics = Metrics(metrics_dir)
    reader = Reader(lists if lists is not None else OnlineLists(open_store(cfg)), serving.manifest_ttl_seconds,
                    serving.store_timeout_ms / 1000, metrics)
    sink = FileSink(serving.exposure_log, f"{socket.gethostname()}-{os.getpid()}") if serving.exposure_log else None
    exposures = ExposureLog(sink, metrics, serving.exposure_flush_seconds, serving.exposure_max_buffer)
    Context = Enum("Context", {c: c for c in serving.contexts}, type=str)
    default_context = Context(serving.contexts[0])
    # The configured variants document the parameter; the manifest says which ones the served version has.
    Variant = Enum("Variant", {v: v for v in cfg.experiment.variants}, type=str)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with reader.running():
            with exposures.running():
                # What start-up loaded (Feast, the registry, pydantic models) lives as long as the process: keep it
                # out of the collector's full passes, whose pauses otherwise land in the latency tail.
                gc.freeze()
                yield

    app = FastAPI(title="movierec", version="1", lifespan=lifespan,
                  description="Precomputed, explained movie recommendations (read-only).")
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if serving.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=serving.cors_origins, allow_methods=["GET"],
                           allow_headers=["X-API-Key"])

    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

    def require_key(key: Annotated[str | None, Security(api_key_header)] = None) -> None:
        if not (key and hmac.compare_digest(key.encode(), serving.api_key.encode())):
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")

    async def published() -> Published:
        live = await reader.current()
        if live is None:
            detail = ("no recommendation lists have been published yet" if reader.store_ok
                      else "the online store is unreachable and nothing is cached yet")
            raise HTTPException(status_code=503, detail=detail)
        return live

    errors = {401: {"model": Problem}, 503: {"model": Problem}}
    # The key is in the OpenAPI schema only when it is required.
    api = APIRouter(prefix="/v1", dependencies=[Depends(require_key)] if serving.api_key else [], responses=errors)

    @api.get("/users/{user_id}/recommendations", response_model=Recommendations)
    async def recommendations(
        user_id: Annotated[int, Path(ge=0, le=MAX_ID, description="the user's id")],
        live: Annotated[Published, Depends(published)],
        k: Annotated[int, Query(ge=1, le=serving.max_k, description="items to return")] = serving.default_k,
        context: Annotated[Context, Query(description="where the list is shown (a metrics label)")] = default_context,
        variant: Annotated[Variant | None, Query(description="serve this variant instead of the assigned one")] = None,
        genres: Annotated[str | None, Query(
            max_length=MAX_GENRES_TEXT, description="onboarding: the genres a new user picked, comma-separated "
            "(e.g. Comedy,Drama); used only when the user has no list of their own")] = None,
        age: Annotated[int | None, Query(ge=0, le=130, description="onboarding: the new user's age")] = None,
    ) -> Recommendations:
        return await answer(user_id, k, context.value, variant.value if variant is not None else None, genres, age, live)

    async def answer(user_id: int, k: int, context: str, variant: str | None, genres: str | None = None,
                     age: int | None = None, live: Published | None = None) -> Response:
        """The recommendations route's response, for the FastAPI route and the fast path (serving/fast_path.py)."""
        live = live or await published()
        manifest = live.manifest
        if variant is not None and variant not in manifest.arms:
            # Shaped like FastAPI's own validation errors, so clients parse one 422 format.
            raise HTTPException(status_code=422, detail=[{
                "type": "enum", "loc": ["query", "variant"], "input": variant,
                "msg": f"variant {variant!r} is not in the published version: it has {', '.join(manifest.arms)}"}])
        assigned = assign(manifest.experiment, user_id, manifest.variants, manifest.weights)
        chosen = variant or assigned
        degraded = False
        try:
            personal = await reader.user_list(manifest, chosen, user_id)
        except StoreUnavailable:
            personal, degraded = None, True
        segment = None
        if personal is not None and personal.segment:
            # Known only by their profile: the row names the segment whose list they get.
            segment = personal.segment
            personal = await _audience(live, chosen, SEGMENT_PREFIX + segment)
        elif personal is None and genres:
            personal, segment = await _onboarding(live, chosen, genres, age, k)
        fallback = live.fallbacks.get(chosen)
        if personal is None and fallback is None:
            raise HTTPException(status_code=503, detail="the online store is unreachable and no fallback list is cached")
        if personal is None:
            segment = None
            metrics.fallbacks.labels("store_unavailable" if degraded else "unknown_user").inc()
        metrics.variants.labels(chosen, context).inc()
        served = personal or fallback
        # Logged as assigned (intention to treat): a fallback or degraded answer is still this variant's exposure.
        exposures.record(user_id, manifest.experiment, assigned, chosen, manifest.version, context,
                         served.movie_ids[:k], personal is None, degraded)
        # Items are encoded at publish time or put together from encoded parts (serving/responses.py): spliced in.
        return json_response(envelope({
            "user_id": user_id, "version": manifest.version, "generated_at": served.generated_at or "",
            "experiment": manifest.experiment, "variant": chosen, "context": context,
            "fallback": personal is None, "degraded": degraded, "segment": segment}, served.items, k))

    async def _audience(live: Published, variant: str, key: str) -> ItemList | None:
        try:
            return await reader.audience_list(live, variant, key)
        except StoreUnavailable:
            return None

    async def _onboarding(live: Published, variant: str, genres: str, age: int | None, k: int
                          ) -> tuple[ItemList | None, str | None]:
        """The picked genres' lists (for the age's band, else any age) merged in turn; None when no genre has one."""
        picked = list(dict.fromkeys(g.strip() for g in genres.split(",") if g.strip()))[:MAX_GENRES]
        band = age_band([age], segments.age_bands)[0] if age is not None else None
        found = []
        for genre in picked:
            got = await _audience(live, variant, f"{GENRE_PREFIX}{genre}|age={band}") if band else None
            got = got or await _audience(live, variant, GENRE_PREFIX + genre)
            if got is not None:
                found.append((genre, got))
        if not found:
            return None, None
        ids, items = interleave([(got.movie_ids, got.items) for _, got in found], k)
        name = "genres=" + ",".join(genre for genre, _ in found) + (f"|age={band}" if band else "")
        return ItemList(ids, items, found[0][1].generated_at), name

    async def _read(fn, live: Published, movie_id: int):
        try:
            found = await fn(live.manifest, movie_id)
        except StoreUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        if found is None:
            raise HTTPException(status_code=404, detail=f"movie {movie_id} is not in the published catalog")
        return found

    movie_errors = {404: {"model": Problem}}

    @api.get("/movies/{movie_id}/similar", response_model=SimilarMovies, responses=movie_errors)
    async def similar(
        movie_id: Annotated[int, Path(ge=0, le=MAX_ID)],
        live: Annotated[Published, Depends(published)],
        k: Annotated[int, Query(ge=1, le=serving.similar_k)] = min(serving.default_k, serving.similar_k),
    ) -> SimilarMovies:
        found = await _read(reader.similar, live, movie_id)
        return json_response(envelope({"movie_id": movie_id, "version": live.manifest.version}, found.items, k))

    @api.get("/movies/{movie_id}", response_model=MovieCard, responses=movie_errors)
    async def movie(movie_id: Annotated[int, Path(ge=0, le=MAX_ID)],
                    live: Annotated[Published, Depends(published)]) -> MovieCard:
        card = await _read(reader.card, live, movie_id)
        path, url = poster(serving.poster_base_url, card.poster_path)
        return MovieCard(movie_id=movie_id, version=live.manifest.version, title=card.title, year=card.year or None,
                         genres=list(card.genres or []), overview=card.overview, runtime=card.runtime,
                         vote_average=card.vote_average, director=card.director or None, poster_path=path, poster_url=url)

    app.include_router(api)
    route = next(r for r in app.routes if getattr(r, "path", None) == ROUTE_PATH)
    rules = Rules(max_id=MAX_ID, max_k=serving.max_k, default_k=serving.default_k, contexts=frozenset(serving.contexts),
                  default_context=default_context.value, variants=frozenset(cfg.experiment.variants),
                  api_key=serving.api_key or None)

    async def fast_answer(request: FastRequest) -> Response:
        return await answer(request.user_id, request.k, request.context, request.variant)

    # Innermost of the middleware: the metrics and CORS layers see the fast path's requests as any other.
    app.user_middleware.append(Middleware(RecommendationsFastPath, rules=rules, answer=fast_answer, route=route))

    @app.get("/health", tags=["ops"])
    async def health() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], responses={503: {"model": Problem}})
    async def ready():
        """The online store answers and a published version is present."""
        await reader.refresh()
        if not reader.store_ok:
            return JSONResponse({"detail": "online store unreachable"}, status_code=503)
        if reader.manifest is None:
            return JSONResponse({"detail": "nothing published yet"}, status_code=503)
        manifest = reader.manifest
        return {"status": "ready", "version": manifest.version, "experiment": manifest.experiment, "variants": manifest.arms}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def prometheus() -> Response:
        """Prometheus text format: requests, latency histogram, fallbacks, store errors."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def explorer() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


def serve(cfg: Config, host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Serve on `workers` processes (default `serving.workers`, 0: one per core), each with its own store client,
    manifest and fallback cache (serving/workers.py); /metrics merges every worker's."""
    import uvicorn

    from serving.workers import run_workers

    host, port = host or cfg.serving.host, port or cfg.serving.port
    workers = workers or cfg.serving.workers or os.cpu_count() or 1
    print(f"movierec API on http://{host}:{port}/ (explorer page), docs at /docs, store: {cfg.feast.online_store}, "
          f"{workers} worker{'s' if workers > 1 else ''}", flush=True)
    if workers == 1:
        uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=SHUTDOWN_SECONDS)
    else:
        run_workers(cfg, host, port, workers)
